"""Surrogate-assisted search (``strategy="surrogate"``): the inner search runs on the calibrated
simulator, only the most promising distinct candidates are measured (issue #14 item 3).

One **round** of :meth:`SurrogateStrategy.ask`:

1. **Refit** when due: once at least ``min_records`` measurements exist and ``refit_every`` new
   ones (or half as many as at the last fit, whichever is more) arrived since the last fit, the
   model is refitted with :func:`~tvm_loihi.tuning.fit.calibrate` (bounded soft-L1 regression of
   the timing constants, every constant inside its documented range) on at most
   ``max_fit_records`` measurements (the best half and the most recent), plus ``ensemble - 1``
   fits on bootstrap resamples of them. Until then the model is the uncalibrated spec, and the
   rounds measure the heuristic seeds (diverse partitionings and layouts) in the order it ranks
   them. A fit that fails keeps the previous model.
2. **Inner search** on the point model (the fit on all records): a fresh instance of the
   ``inner`` strategy (``bilevel`` by default, any registered strategy), seeded with the best
   measured mappings and the heuristic seeds, runs for ``inner_evals`` model evaluations (the fast
   simulator on the fitted spec; each costs milliseconds, not a hardware measurement).
3. **Acquisition**: the ``shortlist`` best model candidates that were never asked or measured are
   predicted under every ensemble member; they are ranked by the lower confidence bound
   ``mean - kappa * std`` of the log latency over the ensemble (exploitation vs the model's
   uncertainty), and the ``batch - local`` best, at most ``per_counts`` of one partitioning, are
   queued.
4. **Local exploitation**: ``local`` more candidates come from the neighbourhood of the *measured*
   incumbent (the best measured mappings, racing's aggregate): ``local_pool`` distinct unmeasured
   mutants of them (1-3 joint moves each) are scored by the same rule and the best are queued. The
   model need not know the optimum, only rank a few neighbours of a measured point better than
   chance (the global optimum of a model that misses the chip's queueing is not the chip's).

``ask`` returns queued candidates one by one (the driver measures each); ``tell`` records the
measurements. Nothing the model predicts is ever told to the driver or written to the log: the
driver measures every genome this strategy asks for, so the reported best is always a measured
mapping. :attr:`SurrogateStrategy.model_evaluations` counts simulator calls (the driver reports
it as ``TuneResult.model_evaluations``).

The strategy needs the problem (network, hardware, activity): it declares ``needs_problem = True``
and the driver passes the :class:`~tvm_loihi.search.problem.MappingProblem` as ``problem=``.
It models latency: use it with ``objectives=("latency",)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..measure.log import LogRecord
from ..measure.records import MeasureInput, MeasureResult
from ..model.hardware import HardwareSpec
from ..search.base import Fitness, Strategy
from ..search.genome import Genome
from ..search.operators import mutate, random_genome
from ..search.registry import get_strategy, register
from ..sim.api import evaluate
from .fit import calibrate

MODEL_FIDELITY = "surrogate-fit"  # fidelity label of the in-memory records handed to calibrate


@register("surrogate")
class SurrogateStrategy(Strategy):
    """Surrogate-assisted search: inner search on the calibrated model, measure the best few.

    Parameters
    ----------
    space : SearchSpace
        What a genome may be.
    problem : MappingProblem
        The network, hardware and activity (passed by the driver, ``needs_problem``).
    inner : str
        The registered strategy run on the model each round (default ``"bilevel"``).
    batch : int
        Candidates measured per round (default 8).
    inner_evals : int
        Model evaluations of the inner search per round (default 160).
    shortlist : int
        Best model candidates scored by the acquisition rule (default ``3 * batch``).
    min_records : int
        Measurements before the first fit (default 16; until then the uncalibrated spec).
    refit_every : int
        New measurements between fits at least (default 16; also at least half the records of
        the last fit, so fits get rarer as they get costlier).
    max_fit_records : int
        Measurements per fit at most (default 64: the best half and the most recent).
    ensemble : int
        Fits per refit: the point fit plus ``ensemble - 1`` bootstrap fits (default 3; 1 = no
        uncertainty, pure exploitation).
    kappa : float
        Weight of the ensemble's standard deviation of log latency in the lower confidence bound
        (default 1.0; 0 = exploit the mean).
    per_counts : int
        Candidates with the same per-layer core counts per batch at most (default 2; diversity
        for the calibration).
    local : int
        Candidates per batch from the measured incumbent's neighbourhood (default ``batch // 2``;
        0 = the inner search's shortlist only).
    local_pool : int
        Unmeasured neighbours scored per round for them (default 32).
    model : {"fast", "event"}
        The simulator fidelity of the model (default ``"fast"``).
    fit_model : {"fast", "event"}, optional
        The fidelity :func:`~tvm_loihi.tuning.fit.calibrate` fits (default: ``model``). ``"fast"``
        with ``model="event"`` fits the constants with the cheap model and predicts with the
        event model.
    rerank : {None, "fast", "event"}
        Fidelity that re-ranks the shortlist on the point model before the batch is picked
        (default ``None``: the acquisition score alone). ``"event"`` costs about 100 fast
        evaluations per candidate, but ranks near-optimal mappings far better than the fast
        model even with the exact constants (docs/search.md, "Why the surrogate stalls").
    **kw
        The :class:`~tvm_loihi.search.base.Strategy` arguments.
    """

    needs_problem = True  # the driver passes problem=MappingProblem

    def __init__(
        self,
        space,
        *,
        problem=None,
        inner: str = "bilevel",
        batch: int = 8,
        inner_evals: int = 160,
        shortlist: int | None = None,
        min_records: int = 16,
        refit_every: int = 16,
        max_fit_records: int = 64,
        ensemble: int = 3,
        kappa: float = 1.0,
        per_counts: int = 2,
        local: int | None = None,
        local_pool: int = 32,
        model: str = "fast",
        fit_model: str | None = None,
        rerank: str | None = None,
        **kw,
    ) -> None:
        super().__init__(space, **kw)
        if problem is None:
            raise TypeError(
                "strategy 'surrogate' needs the MappingProblem (problem=...); tvm_loihi.tune "
                "passes it"
            )
        if inner == "surrogate":
            raise ValueError("strategy 'surrogate': inner must be another strategy")
        self.inner_cls = get_strategy(inner)
        ints = {
            "batch": batch,
            "inner_evals": inner_evals,
            "min_records": min_records,
            "refit_every": refit_every,
            "max_fit_records": max_fit_records,
            "ensemble": ensemble,
            "per_counts": per_counts,
            "local_pool": local_pool,
        }
        for k, v in ints.items():
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"strategy 'surrogate': {k} must be an integer >= 1, got {v!r}")
        if min_records < 8:
            raise ValueError(
                f"strategy 'surrogate': min_records must be >= 8 (calibrate's minimum), "
                f"got {min_records}"
            )
        if not (isinstance(kappa, int | float) and math.isfinite(kappa) and kappa >= 0):
            raise ValueError(f"strategy 'surrogate': kappa must be a number >= 0, got {kappa!r}")
        for k, v in (("model", model), ("fit_model", fit_model or model)):
            if v not in ("fast", "event"):
                raise ValueError(f"strategy 'surrogate': {k} must be 'fast' or 'event', not {v!r}")
        local = batch // 2 if local is None else local
        if (
            isinstance(local, bool)
            or not isinstance(local, int | np.integer)
            or not (0 <= local <= batch)
        ):
            raise ValueError(
                f"strategy 'surrogate': local must be an integer in [0, batch={batch}], "
                f"got {local!r}"
            )
        if rerank not in (None, "fast", "event"):
            raise ValueError(
                f"strategy 'surrogate': rerank must be None, 'fast' or 'event', not {rerank!r}"
            )
        self.rerank = rerank
        if self.n_obj != 1:
            raise ValueError("strategy 'surrogate' models latency only: use one objective")
        self.problem = problem
        self.inner = inner
        self.batch, self.inner_evals = int(batch), int(inner_evals)
        self.shortlist = int(shortlist) if shortlist is not None else 3 * self.batch
        self.min_records, self.refit_every = int(min_records), int(refit_every)
        self.max_fit_records, self.ensemble = int(max_fit_records), int(ensemble)
        self.kappa, self.per_counts, self.model = float(kappa), int(per_counts), model
        self.fit_model = fit_model or model
        self.local, self.local_pool = int(local), int(local_pool)
        self.heuristic = list(self.seeds)  # kept: every round's inner search starts from them
        self.seeds = []  # the base class must not hand them out as measurements
        self.measured: dict[str, tuple[Genome, float]] = {}  # key -> (genome, measured latency)
        self.queue: list[Genome] = []
        self.members: list[HardwareSpec] = [problem.hardware]  # [0]: the point model
        self.n_fitted = 0  # records of the last fit (0: uncalibrated)
        self.fits: list[dict] = []  # one entry per refit, for reports
        self.model_evaluations = 0
        self.rounds = 0
        self._cache: dict[tuple, float] = {}  # (member, key) -> log latency

    # -- model ---------------------------------------------------------------------------------
    def _predict(self, member: int, genome: Genome, fidelity: str | None = None) -> float:
        """Log latency of ``genome`` under ensemble member ``member`` (cached per model), with
        the strategy's model fidelity unless ``fidelity`` is given."""
        fidelity = fidelity or self.model
        key = (member, genome.key()) if fidelity == self.model else (member, genome.key(), fidelity)
        if key not in self._cache:
            p = self.problem
            self.model_evaluations += 1
            try:
                m = evaluate(
                    p.network,
                    p.decode(genome),
                    self.members[member],
                    p.activity,
                    fidelity,
                    validate=False,
                )
                self._cache[key] = math.log(m.total_latency_s)
            except (ValueError, RuntimeError):  # the model cannot map it: never preferred
                self._cache[key] = math.inf
        return self._cache[key]

    def _records(self, keys: list[str]) -> list[LogRecord]:
        p = self.problem
        wk, hk = p.network.workload_key(), p.hardware.key()
        out = []
        for k in keys:
            genome, latency = self.measured[k]
            inp = MeasureInput(wk, hk, p.decode(genome).to_json(), MODEL_FIDELITY)
            out.append(LogRecord(inp, MeasureResult(latency, 1.0)))  # energy unused (not fitted)
        return out

    def _fit(self, keys: list[str], seed: int) -> HardwareSpec:
        p = self.problem
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "weakly determined" is expected early on
            fit = calibrate(
                self._records(keys),
                p.hardware,
                p.network,
                p.activity,
                holdout=0.0,
                seed=seed,
                model=self.fit_model,
                max_records=len(keys),
                fit_energy=False,
                name=f"{p.hardware.name}_surrogate",
            )
        return fit.hardware

    def _refit_due(self) -> bool:
        n = len(self.measured)
        if n < self.min_records:
            return False
        return n - self.n_fitted >= max(self.refit_every, self.n_fitted // 2) or not self.n_fitted

    def _refit(self) -> None:
        good = sorted(self.measured, key=lambda k: self.measured[k][1])
        best = good[: self.max_fit_records // 2]
        recent = [k for k in reversed(list(self.measured)) if k not in set(best)]
        keys = best + recent[: self.max_fit_records - len(best)]
        n = len(self.measured)
        entry: dict = {"records": n, "fit_records": len(keys), "members": 0, "error": ""}
        try:
            members = [self._fit(keys, int(self.rng.integers(2**31)))]
            for _ in range(self.ensemble - 1):
                boot = [keys[i] for i in self.rng.integers(len(keys), size=len(keys))]
                members.append(self._fit(boot, int(self.rng.integers(2**31))))
        except (ValueError, np.linalg.LinAlgError) as err:  # keep the previous model
            entry["error"] = str(err)
        else:
            self.members = members
            self._cache.clear()
            entry["members"] = len(members)
        self.n_fitted = n
        self.fits.append(entry)

    # -- one round -----------------------------------------------------------------------------
    def _plan(self) -> None:
        if self._refit_due():
            self._refit()
        self.rounds += 1
        if not self.n_fitted:  # uncalibrated: the heuristic seeds (diverse) ranked by the model
            fresh = [g for g in self.heuristic if g.key() not in self.seen]
            fresh = sorted(fresh, key=lambda g: self._predict(0, g))
            self.queue.extend(fresh[: self.min_records - len(self.measured)])
            if self.queue:
                return
        n_inner = self.batch - self.local
        picked = self._pick(self._score(self._inner_candidates()), n_inner) if n_inner else []
        taken = {g.key() for g in picked}
        local = [gv for gv in self._score(self._neighbours()) if gv[0].key() not in taken]
        picked += self._pick(local, self.batch - len(picked))
        self.queue.extend(picked)

    def _inner_candidates(self) -> list[tuple[Genome, float]]:
        """The ``shortlist`` best unmeasured mappings of an inner search on the point model."""
        top = sorted(self.measured.values(), key=lambda gv: gv[1])[:4]
        inner = self.inner_cls(
            self.space,
            n_obj=1,
            budget=self.inner_evals,
            seed=int(self.rng.integers(2**31)),
            seeds=[g for g, _ in top] + list(self.heuristic) if self.inner_cls.uses_seeds else (),
            traffic=self.traffic,
            order=self.order,
        )
        found: dict[str, tuple[Genome, float]] = {}
        for _ in range(self.inner_evals):
            g = inner.ask()
            if g is None:
                break
            v = self._predict(0, g)
            inner.tell(g, (v,))
            if g.key() not in self.seen and math.isfinite(v):
                found[g.key()] = (g, v)
        return sorted(found.values(), key=lambda gv: gv[1])[: self.shortlist]

    def _neighbours(self) -> list[tuple[Genome, float]]:
        """``local_pool`` distinct unmeasured mutants (1-3 joint moves) of the measured
        incumbents (the best measured mapping for half of them, the next two for the rest)."""
        if not self.local or not self.measured:
            return []
        top = [g for g, _ in sorted(self.measured.values(), key=lambda gv: gv[1])[:3]]
        found: dict[str, tuple[Genome, float]] = {}
        for _ in range(4 * self.local_pool):
            if len(found) >= self.local_pool:
                break
            base = top[0] if self.rng.random() < 0.5 else top[int(self.rng.integers(len(top)))]
            g = mutate(base, self.space, self.rng, n_moves=int(self.rng.integers(1, 4)))
            if g.key() in self.seen or g.key() in found:
                continue
            v = self._predict(0, g)
            if math.isfinite(v):
                found[g.key()] = (g, v)
        return sorted(found.values(), key=lambda gv: gv[1])

    def _score(self, ranked: list[tuple[Genome, float]]) -> list[tuple[Genome, float]]:
        """Order candidates by the acquisition rule (lower confidence bound over the ensemble),
        then by the ``rerank`` fidelity if one is set."""
        if len(self.members) > 1 and self.kappa > 0:
            scored = []
            for g, v in ranked:
                preds = np.array([v] + [self._predict(m, g) for m in range(1, len(self.members))])
                spread = float(np.std(preds)) if np.all(np.isfinite(preds)) else 0.0
                scored.append((g, float(np.mean(preds)) - self.kappa * spread))
            ranked = sorted(scored, key=lambda gv: gv[1])
        if self.rerank is not None and self.rerank != self.model:
            ranked = sorted(ranked, key=lambda gv: self._predict(0, gv[0], self.rerank))
        return ranked

    def _pick(self, ranked: list[tuple[Genome, float]], n: int) -> list[Genome]:
        """The ``n`` best in rank, at most ``per_counts`` of one partitioning first."""
        per: dict[tuple[int, ...], int] = {}
        picked: set[str] = set()
        for g, _ in ranked:
            if len(picked) < n and per.get(g.counts, 0) < self.per_counts:
                per[g.counts] = per.get(g.counts, 0) + 1
                picked.add(g.key())
        for g, _ in ranked:
            if len(picked) < n:
                picked.add(g.key())
        return [g for g, _ in ranked if g.key() in picked]

    def _ask(self) -> Genome:
        if not self.queue:
            self._plan()
        while self.queue:
            g = self.queue.pop(0)
            if g.key() not in self.seen:
                return g
        # the model has nothing new: a random feasible genome keeps the search going
        return self._fresh(lambda _: random_genome(self.space, self.rng))

    def _tell(self, genome: Genome, fitness: Fitness) -> None:
        if math.isfinite(fitness[0]):
            self.measured[genome.key()] = (genome, float(fitness[0]))

    def _revise(self, genome: Genome, fitness: Fitness) -> None:
        if genome.key() in self.measured and math.isfinite(fitness[0]):  # racing's new aggregate
            self.measured[genome.key()] = (genome, float(fitness[0]))

    # -- state ---------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "measured": [[g.to_json(), v] for g, v in self.measured.values()],
            "queue": [g.to_json() for g in self.queue],
            "members": [m.to_json() for m in self.members],
            "n_fitted": self.n_fitted,
            "fits": self.fits,
            "model_evaluations": self.model_evaluations,
            "rounds": self.rounds,
        }

    def _load(self, d: dict) -> None:
        self.measured = {}
        for gj, v in d["measured"]:
            g = Genome.from_json(gj)
            self.measured[g.key()] = (g, float(v))
        self.queue = [Genome.from_json(g) for g in d["queue"]]
        self.members = [HardwareSpec.from_json(m) for m in d["members"]]
        self.n_fitted = int(d["n_fitted"])
        self.fits = list(d["fits"])
        self.model_evaluations = int(d["model_evaluations"])
        self.rounds = int(d["rounds"])
        self._cache = {}
