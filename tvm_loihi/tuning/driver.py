"""The tuning driver:
``tvm_loihi.tune(network, hardware, ...)`` runs a search strategy against a Runner.

Asynchronous: as many candidates are in flight as ``runner.n_parallel``; results are told to the
strategy strictly in submission order, one before each refill, so a run is deterministic for a given
seed and ``n_parallel`` on any runner (local, pool or RPC, whichever host answers first).
Before anything is submitted, the tuning log is consulted (``log.lookup``): a hit is told straight
away and counts as an evaluation, so a resumed run retraces the same decisions without measuring
anything twice. Identical mappings within a run are measured once (repeats are told the known
result and do not count towards the budget).

The Lava default mapping is always evaluation number 1: it is the reference of every comparison and
the starting point the strategies are told about.

Multi-fidelity verification (``verify=VerifyOptions(fidelity=...)``,
:mod:`tvm_loihi.tuning.verify`): after the search, the best distinct mappings and the Lava default
are measured again at the verify fidelity (not counted against ``budget``), and the best of them
there becomes the result's best.

The reported best (after verification, the best verified) is re-measured on another host or in
process before it is reported (:mod:`tvm_loihi.tuning.confirm`): a host's plausible lie is rejected
and the next best taken.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..measure.energy_budget import within_budget
from ..measure.log import TuningLog
from ..measure.records import MeasureInput, MeasureResult
from ..measure.runner import LocalRunner, Runner
from ..measure.samples import aggregate
from ..model.activity import ActivityProfile
from ..model.argcheck import check_type
from ..model.hardware import HardwareSpec
from ..model.mapping import Mapping
from ..model.network import NetworkIR
from ..search import get_strategy
from ..search.genome import Genome
from ..search.problem import MappingProblem
from ..search.selection import pareto_front
from . import surrogate  # noqa: F401  (registers the "surrogate" strategy)
from .confirm import confirm_best, confirm_default
from .defaults import default_activity, default_samples  # noqa: F401  (public here too)
from .options import RacingOptions, VerifyOptions, WarmStartOptions, from_flat_keywords
from .racing import (
    RacePolicy,
    needs_race,
    next_sample,
    noise,
    resolve_policy,
    verdict,
)
from .result import TuneResult
from .state import Evaluation, TuneState
from .termination import AnyOf, Budget, Exhausted, Stagnation, Termination, WallTime
from .verify import VerifyRace, known_samples, race_verified, verify_candidates
from .warm import warm_seeds

# A strategy that only re-proposes known mappings is stopped after this many.
_DUPLICATES_PER_BUDGET = 2


def _open_log(log):
    if log is None or not isinstance(log, (str, os.PathLike)):
        return log
    return TuningLog(log)


class _Tuner:
    """One tuning run's bookkeeping (the public entry point is :func:`tune`)."""

    def __init__(
        self,
        problem: MappingProblem,
        strategy,
        runner: Runner,
        objectives: tuple[str, ...],
        fidelity: str,
        log,
        budget: int,
        callback: Callable | None,
        rule: Termination,
    ) -> None:
        self.problem, self.strategy, self.runner = problem, strategy, runner
        self.objectives, self.fidelity, self.log, self.budget = objectives, fidelity, log, budget
        self.callback, self.rule = callback, rule
        self.keys = (problem.network.workload_key(), problem.hardware.key())
        self.activity_key = problem.activity.key()
        self.results: dict[str, tuple[MeasureInput, MeasureResult]] = {}  # by key, aggregate
        self.samples: dict[str, list[MeasureResult]] = {}  # by input key, every accepted sample
        self.genomes: dict[str, Genome] = {}  # by input key, the genome first told
        self.policy = RacePolicy()  # no repeats unless tune() says otherwise
        self.in_flight = 0  # submissions not yet told (a race leaves budget for them)
        self.state = TuneState()  # the run so far, an explicit value (tuning/state.py)

    # views of the state
    @property
    def order(self) -> list[str]:
        """Input key of every evaluation, in order."""
        return [e.key for e in self.state.evaluations]

    @property
    def best_key(self) -> str | None:
        best = self.state.best_evaluation
        return None if best is None else best.key

    @property
    def start(self) -> float:
        return self.state.started

    def stop_reason(self) -> str:
        """The first stopping rule that fires (``""``: none)."""
        return self.rule.reason(self.state) or ""

    def duplicate(self) -> None:
        self.state = self.state.with_duplicate()

    def fitness(self, res: MeasureResult) -> tuple[float, ...]:
        return tuple(res.objective(o) for o in self.objectives)

    def make_input(self, genome: Genome) -> MeasureInput:
        return MeasureInput(
            *self.keys, self.problem.decode(genome).to_json(), self.fidelity, self.activity_key
        )

    def cached(self, inp: MeasureInput) -> list[MeasureResult] | None:
        """The log's accepted samples of ``inp`` (None: measure it)."""
        if self.log is None:
            return None
        if hasattr(self.log, "samples"):
            return self.log.samples(inp) or None
        res = self.log.lookup(inp)
        return None if res is None else [res]

    def _record(self, inp: MeasureInput, res: MeasureResult, cached: bool, sample: int) -> None:
        key = inp.key()
        agg = aggregate(self.samples[key])
        self.results[key] = (inp, agg)
        self.state = self.state.record(
            Evaluation(inp, res, self.fitness(res), cached, sample), self.fitness(agg)
        )
        self._progress()

    def complete(
        self,
        genome: Genome,
        inp: MeasureInput,
        res: MeasureResult | list[MeasureResult],
        cached: bool,
    ) -> None:
        """Record one evaluation (``res``: a fresh measurement, or the log's samples of a hit),
        race it against the incumbent when it looks better on a noisy backend, then tell the
        strategy the mapping's aggregate fitness."""
        key = inp.key()
        results = list(res) if isinstance(res, list) else [res]
        if not cached and self.log is not None:
            self.log.append(inp, results[0])
        incumbent = self.best_key
        self.genomes.setdefault(key, genome)
        self.samples[key] = [r for r in results if r.ok] or results[:1]
        self._record(inp, aggregate(results), cached, 0)
        if self.policy.on and incumbent is not None and incumbent != key:
            self._race(key, incumbent)
        self.strategy.tell(genome, self.fitness(self.results[key][1]))
        best = self.best_key
        if self.policy.on and best != key and self.strategy.best is not None:
            # repeats revised the incumbent: the strategy's incumbent follows the driver's
            self.strategy.revise(self.genomes[best], self.fitness(self.results[best][1]))

    def _figures(self, key: str) -> list[float]:
        return [r.objective(self.objectives[0]) for r in self.samples[key] if r.ok]

    def _race(self, challenger: str, incumbent: str) -> None:
        """Measure challenger and incumbent again until :func:`racing.verdict` decides, the cap
        is reached, or the budget (less what is in flight) or the wall time runs out."""
        sigma, df = noise(self._figures(k) for k in self.samples)
        c, i = self._figures(challenger), self._figures(incumbent)
        if not needs_race(c, i, sigma, df, self.policy):
            return
        while verdict(c, i, sigma, df, self.policy) == "more":
            remaining = self.rule.remaining(self.state)
            if (remaining is not None and remaining - self.in_flight <= 0) or self.stop_reason():
                # cut short: not shown better, so it does not displace the incumbent (nor in
                # the log's ranking: the replayed best is the reported one)
                self.state = self.state.with_undecided(challenger)
                if hasattr(self.log, "undecided"):
                    self.log.undecided(self.results[challenger][0], len(c), incumbent)
                break
            key = challenger if next_sample(c, i, self.policy) == "challenger" else incumbent
            inp = self.results[key][0]
            res = self.runner.submit([inp])[0].result()
            if self.log is not None:
                self.log.append(inp, res, repeat=True)
            if res.ok:
                self.samples[key].append(res)
            self._record(inp, res, False, len(self.samples[key]) - (1 if res.ok else 0))
            if not res.ok:  # a host or transport failure: decide on what was measured
                break
            sigma, df = noise(self._figures(k) for k in self.samples)
            c, i = self._figures(challenger), self._figures(incumbent)
        if len(i) > 1:
            self.strategy.revise(self.genomes[incumbent], self.fitness(self.results[incumbent][1]))

    def _progress(self) -> None:
        if self.callback is not None:
            st = self.state
            elapsed = st.elapsed_s
            self.callback(
                {
                    "evaluations": st.n_evaluations,
                    "budget": self.budget,
                    "best": st.history[-1],
                    "cache_hits": st.cache_hits,
                    "elapsed_s": elapsed,
                    "evals_per_s": st.n_evaluations / max(elapsed, 1e-9),
                }
            )

    def evaluate_now(self, genome: Genome) -> None:
        """Measure one genome synchronously (the Lava default before the search starts)."""
        inp = self.make_input(genome)
        cached = self.cached(inp)
        res = cached if cached is not None else self.runner.submit([inp])[0].result()
        self.complete(genome, inp, res, cached is not None)

    def pareto(self) -> tuple[tuple[Mapping, MeasureResult], ...]:
        if len(self.objectives) < 2:
            return ()
        keys = [k for k in dict.fromkeys(self.order) if self.results[k][1].ok]
        if not keys:
            return ()
        F = np.array([self.fitness(self.results[k][1]) for k in keys])
        front = sorted(pareto_front(F), key=lambda i: tuple(F[i]))
        return tuple(
            (Mapping.from_json(self.results[keys[i]][0].mapping), self.results[keys[i]][1])
            for i in front
        )


def _fill(t: _Tuner, in_flight: list, waiting: dict) -> bool:
    """Ask and submit until the runner is busy or the budget is covered;
    False when the strategy is done."""
    while len(in_flight) < t.runner.n_parallel:
        remaining = t.rule.remaining(t.state)
        if (remaining is not None and len(in_flight) >= remaining) or t.stop_reason():
            return True
        genome = t.strategy.ask()
        if genome is None:
            return False
        inp = t.make_input(genome)
        key = inp.key()
        if key in t.results:  # identical mapping already measured in this run
            t.duplicate()
            t.strategy.tell(genome, t.fitness(t.results[key][1]))
            continue
        if key in waiting:  # identical mapping in flight: told when it completes
            t.duplicate()
            waiting[key].append(genome)
            continue
        cached = t.cached(inp)
        if cached is not None:
            t.in_flight = len(in_flight)
            t.complete(genome, inp, cached, cached=True)
            continue
        waiting[key] = []
        in_flight.append((genome, inp, t.runner.submit([inp])[0]))
    return True


def _drain(t: _Tuner, in_flight: list, waiting: dict, timeout: float | None) -> None:
    """Wait for the oldest submission and tell it (nothing else).

    Results are told strictly in submission order, one per refill, so the strategy sees the same
    sequence of asks and tells whichever host answers first: a seeded run is reproducible over
    RPC for a given ``runner.n_parallel``. A finished later result waits for the oldest
    (head-of-line blocking costs little when measurements take similar times, as on one
    fidelity)."""
    genome, inp, fut = in_flight[0]
    try:
        res = fut.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return
    in_flight.pop(0)
    t.in_flight = len(in_flight)
    t.complete(genome, inp, res, cached=False)
    for twin in waiting.pop(inp.key(), []):
        t.strategy.tell(twin, t.fitness(t.results[inp.key()][1]))


def _check_tune_args(network, hardware, runner, strategy, budget, seed, activity, log) -> None:
    check_type(
        "tune",
        "network",
        network,
        NetworkIR,
        "from `(network, hardware), = tvm_loihi.extract_networks(mod)`",
    )
    check_type(
        "tune",
        "hardware",
        hardware,
        HardwareSpec,
        "from tvm_loihi.extract_networks(mod), or get_preset('loihi2_1chip') from "
        "tvm_loihi.model.hardware",
    )
    if runner is not None:
        check_type("tune", "runner", runner, Runner, "e.g. tvm_loihi.measure.runner.LocalRunner()")
    check_type("tune", "strategy", strategy, str, "a registered name, e.g. 'bilevel'")
    check_type("tune", "budget", budget, (int, np.integer))
    check_type("tune", "seed", seed, (int, np.integer))
    if activity is not None:
        check_type("tune", "activity", activity, ActivityProfile)
    if log is not None and not (hasattr(log, "lookup") and hasattr(log, "append")):
        check_type("tune", "log", log, (str, os.PathLike, TuningLog), "the log file's path")


def _rule(
    budget: int, max_wall_s: float | None, stagnation: int | None, extra: Termination | None
) -> Termination:
    """The run's stopping rules, in the order their reasons are reported."""
    rules: list[Termination] = [Budget(budget)]
    if max_wall_s is not None:
        rules.append(WallTime(max_wall_s))
    if stagnation is not None:
        rules.append(Stagnation(stagnation))
    rules.append(Exhausted(_DUPLICATES_PER_BUDGET * budget))
    if extra is not None:
        rules.append(extra)
    return AnyOf(*rules)


def tune(
    network: NetworkIR,
    hardware: HardwareSpec,
    runner: Runner | None = None,
    strategy: str = "bilevel",
    budget: int = 300,
    seed: int = 0,
    objectives: Sequence[str] = ("latency",),
    activity: ActivityProfile | None = None,
    fidelity: str = "fast",
    log=None,
    max_wall_s: float | None = None,
    stagnation: int | None = None,
    callback: Callable[[dict], None] | None = None,
    strategy_params: dict | None = None,
    *,
    termination: Termination | None = None,
    verify: VerifyOptions | None = None,
    racing: RacingOptions | None = None,
    warm: WarmStartOptions | None = None,
    **deprecated,
) -> TuneResult:
    """Search for a low-latency mapping of ``network`` on ``hardware``.

    Parameters
    ----------
    network : NetworkIR
        The offloaded network.
    hardware : HardwareSpec
        The target system.
    runner : Runner, optional
        Where candidates are measured; an in-process :class:`~tvm_loihi.measure.runner.LocalRunner`
        by default (closed at the end only when created here).
    strategy : str
        A registered strategy: ``"bilevel"`` (default), ``"ga"``, ``"nsga2"``, ``"random"``,
        ``"annealing"``, ``"metis_greedy"``, ``"lava_default"``, or ``"surrogate"`` (inner
        search on the calibrated simulator, only the most promising candidates measured;
        :mod:`tvm_loihi.tuning.surrogate`). A strategy class with ``needs_problem = True`` is
        also passed the :class:`~tvm_loihi.search.problem.MappingProblem` as ``problem=``.
    budget : int
        Evaluations to spend, the Lava default and tuning-log hits included.
    seed : int
        Seed of the strategy's random generator.
    objectives : sequence of str
        Minimised objectives (``"latency"``, ``"energy"`` or a counter name); the first is "best".
    activity : ActivityProfile, optional
        Spike activity driving the simulator; defaults to :func:`default_activity` (64 seeded sample
        inputs, half the entries zero, through the bit-exact reference executor).
    fidelity : str
        Simulator fidelity, ``"fast"`` or ``"event"``.
    log : TuningLog or str, optional
        Object with ``lookup(MeasureInput)`` and ``append(MeasureInput, MeasureResult)``, or a path
        for a :class:`tvm_loihi.measure.log.TuningLog`. Consulted before every submission.
    max_wall_s : float, optional
        Stop after this much wall time.
    stagnation : int, optional
        Stop after this many evaluations without improving the best.
    callback : callable, optional
        Called with ``{"evaluations", "budget", "best", "cache_hits", "elapsed_s", "evals_per_s"}``
        after every evaluation.
    strategy_params : dict, optional
        Extra keyword arguments of the strategy class.
    termination : Termination, optional
        Extra stopping rules (:mod:`tvm_loihi.tuning.termination`, e.g. a target latency),
        combined with the budget, ``max_wall_s``, ``stagnation`` and the strategy-exhausted rule;
        the first rule that fires names ``TuneResult.stop_reason``.
    verify : VerifyOptions, optional
        How the reported best is chosen after the search
        (:class:`~tvm_loihi.tuning.options.VerifyOptions`): re-measure the best ``top_k`` and the
        Lava default at ``fidelity`` (:mod:`tvm_loihi.tuning.verify`), and report the fastest
        within ``max_energy_increase`` of the default's energy. Default ``VerifyOptions()``: no
        verification, no energy budget.
    racing : RacingOptions, optional
        Noise-robust selection (:class:`~tvm_loihi.tuning.options.RacingOptions`,
        :mod:`tvm_loihi.tuning.racing`): ``repeats`` (``"auto"``: race on a noisy fidelity only;
        an integer: that cap on samples per mapping, ``1``: off), ``max_repeats``,
        ``confidence``. Every repeat counts against ``budget``. Default ``RacingOptions()``.
    warm : WarmStartOptions, optional
        Seeds from the tuning logs of earlier runs
        (:class:`~tvm_loihi.tuning.options.WarmStartOptions`, :mod:`tvm_loihi.tuning.warm`):
        the ``top_k`` best mappings of each (workload, hardware) of ``logs``, repaired to this
        problem and asked first. Default ``WarmStartOptions()``: no warm start.
    **deprecated
        The flat keywords of earlier releases, each mapped onto its group with a
        ``DeprecationWarning`` (removed in the next release): ``verify_fidelity``,
        ``verify_top_k``, ``max_energy_increase`` (``verify``); ``repeats``, ``max_repeats``,
        ``confidence`` (``racing``); ``warm_start``, ``warm_top_k`` (``warm``, ``logs`` and
        ``top_k``). A group given both ways is a ``TypeError``.

    Returns
    -------
    TuneResult
    """
    groups = from_flat_keywords({"verify": verify, "racing": racing, "warm": warm}, deprecated)
    verify, racing, warm = groups["verify"], groups["racing"], groups["warm"]
    if termination is not None and not isinstance(termination, Termination):
        raise TypeError(
            f"tune: termination must be a tvm_loihi.tuning.termination.Termination, "
            f"got {type(termination).__name__}"
        )
    _check_tune_args(network, hardware, runner, strategy, budget, seed, activity, log)
    if budget < 1:
        raise ValueError(f"tune: budget must be >= 1, got {budget}")
    policy = resolve_policy(racing.repeats, fidelity, racing.max_repeats, racing.confidence)
    objectives = tuple(objectives)
    activity = activity if activity is not None else default_activity(network, hardware)
    problem = MappingProblem(network, hardware, activity)
    cls = get_strategy(strategy)
    seeds = warm_seeds(problem, warm.logs, warm.top_k) if warm.logs and cls.uses_seeds else []
    strat = cls(
        problem.space,
        n_obj=len(objectives),
        budget=budget,
        seed=seed,
        seeds=(seeds + problem.seeds()) if cls.uses_seeds else (),
        traffic=problem.traffic,
        order=problem.order,
        # a strategy that models the problem itself (e.g. "surrogate") declares needs_problem
        **({"problem": problem} if getattr(cls, "needs_problem", False) else {}),
        **(strategy_params or {}),
    )
    own_runner = runner is None
    runner = LocalRunner() if own_runner else runner
    try:
        runner.register(network, hardware, activity)
        rule = _rule(budget, max_wall_s, stagnation, termination)
        t = _Tuner(
            problem, strat, runner, objectives, fidelity, _open_log(log), budget, callback, rule
        )
        t.policy = policy
        t.evaluate_now(problem.default)
        in_flight: list = []
        waiting: dict = {}
        more = True
        while True:
            reason = t.stop_reason()
            if reason and not in_flight:
                break
            if more and not reason:
                more = _fill(t, in_flight, waiting)
            if not in_flight:
                if not more:
                    reason = "exhausted"
                    break
                continue
            deadline = rule.deadline(t.state)
            _drain(
                t,
                in_flight,
                waiting,
                None if deadline is None else max(0.0, deadline - time.monotonic()),
            )
            if deadline is not None and time.monotonic() >= deadline:
                reason = t.stop_reason() or "wall_time"
                break  # a deadline abandons what is still in flight
        verified, race = None, None
        if verify.fidelity:
            evaluated = [t.results[k] for k in dict.fromkeys(t.order)]
            verified = verify_candidates(
                evaluated, verify.fidelity, verify.top_k, t.objectives[0], t.runner, t.log
            )
            race = _race_verified(t, verified, verify.fidelity, racing)
            verified = verified if race is None else list(race.verified)
    finally:
        if own_runner:
            runner.close()
    out = _result(
        t, strategy, seed, reason, verify.fidelity, verified, verify.max_energy_increase, race
    )
    sigma, _ = noise(t._figures(k) for k in t.samples)
    return dataclasses.replace(out, repeats=t.state.repeats, noise=sigma, warm_seeds=len(seeds))


def _race_verified(
    t: _Tuner, verified: list, fidelity: str, racing: RacingOptions
) -> VerifyRace | None:
    """The verified candidates raced with the run's racing options at the verify fidelity
    (None when that policy does not race, e.g. ``repeats="auto"`` on a simulator fidelity)."""
    policy = resolve_policy(racing.repeats, fidelity, racing.max_repeats, racing.confidence)
    if not policy.on:
        return None
    reference = dataclasses.replace(t.results[t.order[0]][0], fidelity=fidelity).key()
    samples = known_samples(verified, t.samples, t.log)
    return race_verified(verified, samples, reference, t.objectives[0], policy, t.runner, t.log)


def _ranked(t: _Tuner, verified: list | None) -> list[tuple[MeasureInput, MeasureResult]]:
    """Successful candidates for the reported best, best first (ties: search rank / order)."""
    pairs = verified if verified is not None else [t.results[k] for k in dict.fromkeys(t.order)]
    ok = [p for p in pairs if p[1].ok]
    # a challenger whose race the budget cut short was not shown better: after the others
    return sorted(ok, key=lambda p: (p[0].key() in t.state.undecided, t.fitness(p[1])[0]))


def _host_stats(t: _Tuner) -> dict:
    if hasattr(t.runner, "host_stats"):
        return t.runner.host_stats()
    counts: dict[str, int] = {}
    for _, res in t.results.values():
        counts[res.host] = counts.get(res.host, 0) + 1
    return {h: {"measured": n, "rejected": 0, "dropped": False} for h, n in sorted(counts.items())}


def _default_input(verified: list | None, default_inp: MeasureInput) -> MeasureInput:
    """The Lava default's input at the reported fidelity (the verify fidelity's when verified)."""
    if verified is None:
        return default_inp
    return next(i for i, _ in verified if i.mapping == default_inp.mapping)


def _result(
    t: _Tuner,
    strategy: str,
    seed: int,
    reason: str,
    verify_fidelity: str | None,
    verified: list | None,
    max_energy_increase: float | None = None,
    race: VerifyRace | None = None,
) -> TuneResult:
    best_inp, best_res = t.results[t.best_key]
    default_inp, default_res = t.results[t.order[0]]
    extra: dict = {}
    if verified is not None:
        pairs = tuple((Mapping.from_json(i.mapping), r) for i, r in verified)
        extra = {
            "verify_fidelity": verify_fidelity,
            "verified": pairs,
            "search_best": (Mapping.from_json(best_inp.mapping), best_res),
            "verify_evaluations": len(verified) + (race.repeats if race else 0),
            "verify_repeats": race.repeats if race else 0,
        }
        default_res = next(r for i, r in verified if i.mapping == default_inp.mapping)
    ranked = list(race.ranked) if race is not None else _ranked(t, verified)
    if max_energy_increase is not None and ranked:
        # the fastest within the budget: latency order, whatever the first objective
        extra["fastest"] = tuple(
            Mapping.from_json(x.mapping) if i == 0 else x for i, x in enumerate(ranked[0])
        )
        extra["max_energy_increase"] = float(max_energy_increase)
        ranked = sorted(
            [p for p in ranked if within_budget(p[1], default_res, max_energy_increase)],
            key=lambda p: p[1].latency_s,
        )
    workload = (t.problem.network, t.problem.hardware, t.problem.activity)

    def samples_of(inp: MeasureInput) -> list[MeasureResult]:
        own = (race.samples.get(inp.key()) if race else None) or t.samples.get(inp.key())
        return own if own else [r for i, r in (verified or []) if i.key() == inp.key()][:1]

    if ranked:
        best_inp, best_res, confirmation = confirm_best(
            ranked,
            t.runner,
            workload,
            t.objectives[0],
            t.log,
            samples_of,
            rank_by="latency" if max_energy_increase is not None else None,
        )
        extra["confirmation"] = confirmation.to_json()
        reference = _default_input(verified, default_inp)
        if best_inp.key() != reference.key():
            default_res, checked = confirm_default(
                reference,
                default_res,
                t.runner,
                workload,
                t.objectives[0],
                t.log,
                samples_of,
                set(confirmation.distrusted),
            )
            extra["confirmation"]["default"] = checked
    extra["hosts"] = _host_stats(t)
    extra["hardware_evaluations"] = t.state.n_evaluations
    extra["model_evaluations"] = int(getattr(t.strategy, "model_evaluations", 0))
    return TuneResult(
        strategy,
        seed,
        t.objectives,
        t.fidelity,
        Mapping.from_json(best_inp.mapping),
        best_res,
        Mapping.from_json(default_inp.mapping),
        default_res,
        t.state.history,
        t.state.values,
        t.pareto(),
        t.state.n_evaluations,
        t.state.cache_hits,
        t.state.duplicates,
        t.state.elapsed_s,
        reason or "budget",
        **extra,
    )
