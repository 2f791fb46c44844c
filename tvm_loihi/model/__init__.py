"""The values every layer passes around (numpy/scipy only, no TVM): the offloaded network and its
fixed-point semantics, quantisation, activity, the hardware, a mapping, per-core resources, and the
reference workloads."""
