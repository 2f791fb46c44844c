"""Shared, cached reference networks and activity for the hardware/mapping/simulator tests."""

from __future__ import annotations

import functools

from tvm_loihi.model.activity import ActivityProfile, activity_from_float
from tvm_loihi.model.network import NetworkIR
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs


@functools.cache
def network(name: str) -> NetworkIR:
    spec = WORKLOADS[name]
    return quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=name)


@functools.cache
def activity(name: str, n_samples: int = 64) -> ActivityProfile:
    return activity_from_float(network(name), sample_inputs(WORKLOADS[name], n_samples))
