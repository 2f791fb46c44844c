"""The simulator's entry points: :func:`evaluate` a mapping, :func:`lower_bound` of a workload."""

from __future__ import annotations

import numpy as np

from ..constants import FIDELITIES
from ..model.activity import ActivityProfile
from ..model.argcheck import check_type
from ..model.hardware import HardwareSpec
from ..model.mapping import Mapping
from ..model.network import NetworkIR
from .energy import energy_breakdown, event_counts
from .event import event_timeline
from .fast import Timeline, fast_timeline
from .mapped import MappedTraffic, map_traffic
from .measurement import Measurement


def evaluate(
    network: NetworkIR,
    mapping: Mapping,
    hardware: HardwareSpec,
    activity: ActivityProfile,
    fidelity: str = "fast",
    *,
    validate: bool = True,
) -> Measurement:
    """Simulate ``network`` mapped by ``mapping`` on ``hardware`` driven by ``activity``.

    Parameters
    ----------
    network, mapping, hardware, activity
        What runs, where, on what, with which spikes
        (``activity.layer_sizes == network.layer_sizes``).
    fidelity : {"fast", "event"}
        Max-affine model (:mod:`tvm_loihi.sim.fast`) or discrete-event NoC model
        (:mod:`tvm_loihi.sim.event`).
    validate : bool
        Check the mapping against the per-core limits first (raises
        :class:`~tvm_loihi.model.mapping.MappingError`).

    Returns
    -------
    Measurement
    """
    check_type("evaluate", "network", network, NetworkIR)
    check_type("evaluate", "mapping", mapping, Mapping, "e.g. Mapping.from_assignment")
    check_type("evaluate", "hardware", hardware, HardwareSpec, "e.g. get_preset('loihi2_1chip')")
    check_type(
        "evaluate",
        "activity",
        activity,
        ActivityProfile,
        "e.g. tvm_loihi.tuning.default_activity(network)",
    )
    if fidelity not in FIDELITIES:
        raise ValueError(f"fidelity must be one of {FIDELITIES}, got {fidelity!r}")
    activity.check_matches(network)
    if validate:
        mapping.validate(network, hardware)
    mt = map_traffic(network, mapping, hardware, activity)
    if fidelity == "fast":
        timeline = fast_timeline(mt)
    else:
        timeline = event_timeline(mt)
    return _measurement(fidelity, mt, timeline)


def _measurement(fidelity: str, mt: MappedTraffic, tl: Timeline) -> Measurement:
    total = float(tl.step_s.sum())
    n, layers = mt.n_samples, mt.n_layers
    csum = np.concatenate([[0.0], np.cumsum(tl.step_s)])
    per_sample = float(np.mean(csum[layers : layers + n] - csum[:n]))
    counts = event_counts(mt)
    counts["timesteps"] = mt.n_timesteps
    energy = energy_breakdown(mt, counts, total)
    e_total = sum(energy.values())
    geo = mt.geo
    return Measurement(
        fidelity=fidelity,
        total_latency_s=total,
        per_sample_latency_s=per_sample,
        throughput_sps=n / total,
        energy_j=e_total,
        energy_per_inference_j=e_total / n,
        cores_used=len(mt.slice_core),
        chips_used=mt.chips_used,
        n_samples=n,
        counters={k: round(v) for k, v in counts.items()},
        energy_breakdown_j=energy,
        timesteps={
            "step_s": tl.step_s,
            "compute_s": tl.compute_s,
            "link_s": tl.link_s,
            "flight_s": tl.flight_s,
        },
        barrier_s=tl.barrier_s,
        core_ids=mt.slice_core,
        core_utilisation=tl.core_busy_s / total,
        link_messages=tl.link_messages.reshape(4, geo.gh, geo.gw),
        static_board_j=mt.hardware.n_chips * mt.hardware.energy.static_w_per_chip * total,
    )


def lower_bound(network: NetworkIR, hardware: HardwareSpec, activity: ActivityProfile) -> float:
    """A lower bound on total latency for any valid mapping (see :mod:`tvm_loihi.sim.bound`)."""
    from .bound import latency_lower_bound

    return latency_lower_bound(network, hardware, activity)
