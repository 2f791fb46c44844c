"""What a tuning run found: :class:`TuneResult`, to and from plain JSON (the CLI summary's ``runs``
entries derive from it, :func:`tvm_loihi.report.summary.run_of`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..measure.records import MeasureResult
from ..model.mapping import Mapping


@dataclass(frozen=True, eq=False)
class TuneResult:
    """What a tuning run found.

    Attributes
    ----------
    best_mapping, best_result
        The best mapping by the first objective, and its measurement.
    default_mapping, default_result
        The Lava default mapping and its measurement (evaluation 1).
    history : tuple of float
        Best-so-far first objective after every evaluation (cache hits included).
    values : tuple of float
        The first objective of every evaluation, in order (``inf`` for failures).
    pareto : tuple of (Mapping, MeasureResult)
        Non-dominated measured mappings over the objectives (only when there are two or more).
    evaluations, cache_hits : int
        Evaluations spent (log hits included) and how many of them came from the log.
    stop_reason : str
        ``"budget"``, ``"wall_time"``, ``"stagnation"`` or ``"exhausted"``
        (the strategy had nothing new).
    verify_fidelity : str or None
        When set, ``best_*`` and ``default_*`` are measurements at this fidelity (the best of
        ``verified``); ``history``, ``values``, ``pareto`` and ``evaluations`` are the search's.
    verified : tuple of (Mapping, MeasureResult)
        The verified mappings in search rank (best first; the Lava default last unless it ranked),
        with their verify-fidelity measurements.
    search_best : (Mapping, MeasureResult) or None
        With verification, the search's own best and its search-fidelity measurement.
    verify_evaluations : int
        Verify-fidelity evaluations (log hits and race repeats included), outside
        ``evaluations`` and the budget.
    verify_repeats : int
        Of ``verify_evaluations``, the repeats that raced the verified candidates on a noisy
        verify fidelity (:func:`tvm_loihi.tuning.verify.race_verified`; each a log sample).
    max_energy_increase : float or None
        When set (``tune(max_energy_increase=...)``), ``best_*`` is the fastest measured candidate
        using at most ``1 + max_energy_increase`` times the default's energy; ``fastest`` keeps the
        best by the first objective regardless of energy.
    fastest : (Mapping, MeasureResult) or None
        With an energy budget, the best by the first objective regardless of energy.
    confirmation : dict or None
        How the reported best was checked (:class:`tvm_loihi.tuning.confirm.Confirmation` JSON):
        who measured it, who re-measured it, which candidates were rejected on the way.
    hardware_evaluations : int
        Search evaluations that are measurements (sent to the runner, or tuning-log hits of
        earlier measurements): ``evaluations``; the verify and confirm re-measurements are not
        included.
    model_evaluations : int
        Simulator calls a model-based strategy made instead of measuring (``"surrogate"``; 0 for
        every other strategy). Never reported as measurements.
    hosts : dict
        Per measurement host: ``{"measured", "rejected", "dropped"}`` (the runner's counts since it
        started, or this run's results per host for a runner without checks); an ``RPCRunner`` adds
        ``"calls"``, ``"mean_batch"``, ``"host_s"``, ``"rpc_s"`` and ``"overhead_ms"``.
    repeats : int
        Evaluations that re-measured a mapping of this run (races on a noisy backend,
        :mod:`tvm_loihi.tuning.racing`); inside ``evaluations`` and the budget.
    noise : float or None
        The measured noise (pooled standard deviation of log figures of repeated mappings; about
        the coefficient of variation), None when nothing was repeated.
    warm_seeds : int
        Seeds taken from ``warm_start`` logs (:mod:`tvm_loihi.tuning.warm`).
    """

    strategy: str
    seed: int
    objectives: tuple[str, ...]
    fidelity: str
    best_mapping: Mapping
    best_result: MeasureResult
    default_mapping: Mapping
    default_result: MeasureResult
    history: tuple[float, ...]
    values: tuple[float, ...]
    pareto: tuple[tuple[Mapping, MeasureResult], ...]
    evaluations: int
    cache_hits: int
    duplicates: int
    wall_s: float
    stop_reason: str
    verify_fidelity: str | None = None
    verified: tuple[tuple[Mapping, MeasureResult], ...] = ()
    search_best: tuple[Mapping, MeasureResult] | None = None
    verify_evaluations: int = 0
    verify_repeats: int = 0
    max_energy_increase: float | None = None
    fastest: tuple[Mapping, MeasureResult] | None = None
    confirmation: dict | None = None
    hosts: dict = field(default_factory=dict)
    repeats: int = 0
    noise: float | None = None
    warm_seeds: int = 0
    hardware_evaluations: int = 0
    model_evaluations: int = 0

    def change(self, objective: str = "latency") -> float:
        """Relative change of the best mapping vs the Lava default (``-0.4`` = 40 % lower)."""
        best = self.best_result.objective(objective)
        return best / self.default_result.objective(objective) - 1.0

    def to_json(self) -> dict:
        """Plain JSON data (mappings and results in their JSON forms)."""
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "objectives": list(self.objectives),
            "fidelity": self.fidelity,
            "best_mapping": self.best_mapping.to_json(),
            "best_result": self.best_result.to_json(),
            "default_mapping": self.default_mapping.to_json(),
            "default_result": self.default_result.to_json(),
            "history": list(self.history),
            "values": [v if np.isfinite(v) else None for v in self.values],
            "pareto": [[m.to_json(), r.to_json()] for m, r in self.pareto],
            "evaluations": self.evaluations,
            "cache_hits": self.cache_hits,
            "duplicates": self.duplicates,
            "wall_s": self.wall_s,
            "stop_reason": self.stop_reason,
            "verify_fidelity": self.verify_fidelity,
            "verified": [[m.to_json(), r.to_json()] for m, r in self.verified],
            "search_best": (
                None
                if self.search_best is None
                else [self.search_best[0].to_json(), self.search_best[1].to_json()]
            ),
            "verify_evaluations": self.verify_evaluations,
            "verify_repeats": self.verify_repeats,
            "max_energy_increase": self.max_energy_increase,
            "fastest": (
                None
                if self.fastest is None
                else [self.fastest[0].to_json(), self.fastest[1].to_json()]
            ),
            "confirmation": self.confirmation,
            "hosts": self.hosts,
            "repeats": self.repeats,
            "noise": self.noise,
            "warm_seeds": self.warm_seeds,
            "hardware_evaluations": self.hardware_evaluations,
            "model_evaluations": self.model_evaluations,
        }

    @classmethod
    def from_json(cls, d: dict) -> TuneResult:
        """The inverse of :meth:`to_json` (``values`` entries of None are failures, ``inf``)."""

        def pair(p):
            return None if p is None else (Mapping.from_json(p[0]), MeasureResult.from_json(p[1]))

        return cls(
            strategy=d["strategy"],
            seed=int(d["seed"]),
            objectives=tuple(d["objectives"]),
            fidelity=d["fidelity"],
            best_mapping=Mapping.from_json(d["best_mapping"]),
            best_result=MeasureResult.from_json(d["best_result"]),
            default_mapping=Mapping.from_json(d["default_mapping"]),
            default_result=MeasureResult.from_json(d["default_result"]),
            history=tuple(float(v) for v in d["history"]),
            values=tuple(float("inf") if v is None else float(v) for v in d["values"]),
            pareto=tuple(pair(p) for p in d["pareto"]),
            evaluations=int(d["evaluations"]),
            cache_hits=int(d["cache_hits"]),
            duplicates=int(d["duplicates"]),
            wall_s=float(d["wall_s"]),
            stop_reason=d["stop_reason"],
            verify_fidelity=d.get("verify_fidelity"),
            verified=tuple(pair(p) for p in d.get("verified", ())),
            search_best=pair(d.get("search_best")),
            verify_evaluations=int(d.get("verify_evaluations", 0)),
            verify_repeats=int(d.get("verify_repeats", 0)),
            max_energy_increase=d.get("max_energy_increase"),
            fastest=pair(d.get("fastest")),
            confirmation=d.get("confirmation"),
            hosts=dict(d.get("hosts") or {}),
            repeats=int(d.get("repeats", 0)),
            noise=d.get("noise"),
            warm_seeds=int(d.get("warm_seeds", 0)),
            hardware_evaluations=int(d.get("hardware_evaluations", 0)),
            model_evaluations=int(d.get("model_evaluations", 0)),
        )
