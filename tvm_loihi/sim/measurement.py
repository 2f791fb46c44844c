"""What one simulated run reports (the simulator's answer to "measure this mapping")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Measurement:
    """Latency, energy and breakdowns of one run of the whole input set.

    Parameters
    ----------
    fidelity : str
        ``"fast"`` or ``"event"``.
    total_latency_s : float
        Sum of all ``N + L - 1`` timestep durations.
    per_sample_latency_s : float
        Mean over samples of the ``L`` timesteps a sample spans.
    throughput_sps : float
        Samples per second over the whole run.
    energy_j : float
        Total energy of the run (dynamic + static + running, the last 0 unless the spec sets
        ``energy.running_w_per_chip``).
    energy_per_inference_j : float
        ``energy_j / n_samples``.
    cores_used, chips_used, n_samples : int
        Resources and size of the run.
    counters : dict
        Integer event counts named like Lava's Loihi 2 profilers (``syn_ops``, ``dendrite_updates``,
        ``spikes_in``, ``axon_out``) plus ``spikes``, hop and crossing counts, ``timesteps``.
    energy_breakdown_j : dict
        Energy per component (dynamic ones, ``static_j`` and ``running_j``, both of used chips).
    timesteps : dict
        ``(T,)`` arrays: ``step_s``, ``compute_s``, ``link_s``, ``flight_s`` (see the models' docs).
    barrier_s : float
        Barrier time per timestep.
    core_ids : numpy.ndarray
        ``(S,)`` global ids of the used cores.
    core_utilisation : numpy.ndarray
        ``(S,)`` busy fraction of each used core over the run.
    link_messages : numpy.ndarray
        ``(4, gh, gw)`` messages over each directed link (east, west, north, south) over the run.
    static_board_j : float
        Static energy of every chip of the system over the run. ``energy_j`` charges static power
        per *used* chip (Lava's convention: lava-dl subtracts idle chips arithmetically); idle
        chips are not power-gated on Kapoho Point, so the board draws this much. Running power
        is charged to the used chips either way (an idle chip does not run).
    """

    fidelity: str
    total_latency_s: float
    per_sample_latency_s: float
    throughput_sps: float
    energy_j: float
    energy_per_inference_j: float
    cores_used: int
    chips_used: int
    n_samples: int
    counters: dict
    energy_breakdown_j: dict
    timesteps: dict = field(repr=False)
    barrier_s: float = 0.0
    core_ids: np.ndarray = field(default=None, repr=False)
    core_utilisation: np.ndarray = field(default=None, repr=False)
    link_messages: np.ndarray = field(default=None, repr=False)
    static_board_j: float = 0.0

    @property
    def latency_s(self) -> float:
        return self.total_latency_s

    @property
    def energy_board_j(self) -> float:
        """``energy_j`` with static power charged for every chip of the board."""
        return self.energy_j - self.energy_breakdown_j.get("static_j", 0.0) + self.static_board_j

    @property
    def energy_per_inference_board_j(self) -> float:
        """``energy_board_j / n_samples``."""
        return self.energy_board_j / self.n_samples

    def to_json(self, detail: bool = True) -> dict:
        """Plain JSON data; ``detail=False`` leaves out the per-timestep/core/link arrays."""
        d = {
            "fidelity": self.fidelity,
            "total_latency_s": self.total_latency_s,
            "per_sample_latency_s": self.per_sample_latency_s,
            "throughput_sps": self.throughput_sps,
            "energy_j": self.energy_j,
            "energy_per_inference_j": self.energy_per_inference_j,
            "cores_used": self.cores_used,
            "chips_used": self.chips_used,
            "n_samples": self.n_samples,
            "counters": dict(self.counters),
            "energy_breakdown_j": dict(self.energy_breakdown_j),
            "barrier_s": self.barrier_s,
            "energy_board_j": self.energy_board_j,
            "energy_per_inference_board_j": self.energy_per_inference_board_j,
        }
        if detail:
            d["timesteps"] = {k: np.asarray(v).tolist() for k, v in self.timesteps.items()}
            d["core_ids"] = np.asarray(self.core_ids).tolist()
            d["core_utilisation"] = np.asarray(self.core_utilisation).tolist()
            d["link_messages"] = np.asarray(self.link_messages).tolist()
        return d
