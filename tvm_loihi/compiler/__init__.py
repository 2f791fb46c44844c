"""TVM glue: the ``loihi.*`` patterns, partitioning, codegen to :class:`NetworkIR`, calibration,
lowering to ``call_dps_packed``, the runtime function, artifacts, replay of tuning logs, the ONNX
frontend, and the ``loihi2`` target tags and Relax pipeline (:mod:`.pipeline`, the top).

Bottom to top: ``_compat`` (every version-sensitive TVM call) and ``config`` (:class:`LoihiConfig`),
``codegen``, ``patterns``, ``partition``, ``runtime``, ``calibrate``, ``lower``, ``artifact``,
``frontend``, ``pipeline``, ``replay``. Imports :mod:`tvm_loihi.model`, :mod:`tvm_loihi.lava` (the
``"lava"`` runtime backend, lazily) and :mod:`tvm_loihi.measure.log` (replay only).
"""
