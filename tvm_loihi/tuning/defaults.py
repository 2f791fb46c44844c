"""The activity a tuning run uses when none is given: seeded sample inputs through the reference
executor (shared by :func:`tvm_loihi.tuning.driver.tune`, :func:`tvm_loihi.tuning.fit.calibrate` and
the CLI)."""

from __future__ import annotations

import numpy as np

from ..model.activity import ActivityProfile, activity_from_float
from ..model.hardware import HardwareSpec
from ..model.network import NetworkIR
from ..model.workloads import WorkloadSpec, sample_inputs


def default_activity(
    network: NetworkIR, hardware: HardwareSpec | None = None, n_samples: int = 64, seed: int = 1
) -> ActivityProfile:
    """Activity of seeded sample inputs: ``n_samples`` vectors in ``[0, 1)`` with about half the
    entries zero (the distribution of :func:`tvm_loihi.model.workloads.sample_inputs`), through the
    reference executor."""
    return activity_from_float(network, default_samples(network, hardware, n_samples, seed))


def default_samples(
    network: NetworkIR, hardware: HardwareSpec | None = None, n_samples: int = 64, seed: int = 1
) -> np.ndarray:
    """The float sample inputs behind :func:`default_activity`, ``(n_samples, n_inputs)``."""
    spec = WorkloadSpec(
        network.name, tuple(network.layer_sizes), 0.0, hardware.name if hardware else ""
    )
    return sample_inputs(spec, n_samples=n_samples, seed=seed)
