"""Energy: dynamic energy per event (the same counts for both fidelities) plus static (and, in a
variant, running) power x latency."""

from __future__ import annotations

from .mapped import MappedTraffic


def event_counts(mt: MappedTraffic) -> dict[str, float]:
    """Whole-run event counts, named like Lava's Loihi 2 profilers where one exists."""
    r, part = mt.routes, mt.part
    msgs = part.pair_messages
    counts = dict(part.counts)
    counts.update(
        {
            "hops_ew": float(msgs @ r.hops_ew),
            "hops_ns": float(msgs @ r.hops_ns),
            "hops_local": float(msgs @ r.local),
            # chip-to-chip messages only: host input is counted apart, as "host_messages"
            "chip_crossings": float(msgs @ r.crossings),
        }
    )
    return counts


def dynamic_energy(energy, counts: dict[str, float]) -> dict[str, float]:
    """Dynamic energy (joules) per component from event counts.

    Parameters
    ----------
    energy : Energy
        Per-event energies.
    counts : dict
        ``syn_ops``, ``dendrite_updates`` (neuron updates), ``spikes`` (spiking neurons),
        ``axon_out`` (messages), ``hops_ew``, ``hops_ns``, ``hops_local``, ``chip_crossings``.

    Returns
    -------
    dict
        ``{component_j: joules}`` without the static term.
    """
    e = energy
    active = counts["spikes"]
    return {
        "syn_ops_j": counts["syn_ops"] * e.syn_op_j,
        "neurons_j": (
            active * e.neuron_active_j + (counts["dendrite_updates"] - active) * e.neuron_inactive_j
        ),
        "spikes_j": active * e.spike_out_j,
        "messages_j": counts["axon_out"] * e.msg_out_j,
        "hops_j": counts["hops_ew"] * e.hop_ew_j
        + counts["hops_ns"] * e.hop_ns_j
        + counts["hops_local"] * e.hop_local_j,
        # a host message takes the same off-chip link as a chip crossing: priced alike
        "chip_crossings_j": (counts["chip_crossings"] + counts["host_messages"])
        * e.chip_crossing_j,
    }


def energy_breakdown(
    mt: MappedTraffic, counts: dict[str, float], latency_s: float
) -> dict[str, float]:
    """Energy (joules) per component for a run of ``latency_s`` seconds."""
    e = mt.hardware.energy
    return {
        **dynamic_energy(e, counts),
        "static_j": mt.chips_used * e.static_w_per_chip * latency_s,
        # time-proportional power of the used chips while running (0 unless a variant sets it)
        "running_j": mt.chips_used * e.running_w_per_chip * latency_s,
    }
