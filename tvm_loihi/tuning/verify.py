"""Multi-fidelity verification: the search's best candidates measured again at another fidelity.

The search fidelity's optimum is exploitable: the fast model is optimistic about the very mappings
the search drives it towards. So after the search, the ``top_k`` best distinct mappings by the
search objective, and the Lava default, are measured again at the verify fidelity
(``tune(verify=VerifyOptions(fidelity=...))``), through the same runner and log (a resumed run
re-measures nothing); these evaluations do not count against the budget, and the driver reports
the best of them there. Deterministic for a given run and a synchronous runner.

On a noisy verify fidelity (the stand-in, hardware: :func:`tvm_loihi.tuning.racing.resolve_policy`
of the run's racing options at the verify fidelity) one measurement each would let a lucky draw
pick the final best, so the verified candidates are raced (:func:`race_verified`) with the
search's rule (:func:`~tvm_loihi.tuning.racing.verdict`, :func:`~tvm_loihi.tuning.racing.noise`,
:func:`~tvm_loihi.tuning.racing.next_sample`): every candidate whose mean falls below the
incumbent's is raced against it, and the winner has the lowest mean of its samples. On a
deterministic verify fidelity nothing is repeated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..measure.records import MeasureInput, MeasureResult
from ..measure.runner import Runner
from ..measure.samples import aggregate
from .racing import RacePolicy, needs_race, next_sample, noise, verdict


def candidates(
    evaluated: Sequence[tuple[MeasureInput, MeasureResult]], top_k: int, objective: str
) -> list[MeasureInput]:
    """The inputs to verify: the ``top_k`` best successful ones by ``objective`` (ties: in
    evaluation order), then the Lava default (``evaluated[0]``) unless it is among them.

    Parameters
    ----------
    evaluated : sequence of (MeasureInput, MeasureResult)
        The run's distinct mappings in the order first evaluated (the Lava default first), each
        with its aggregate result.
    top_k : int
        How many of the best to take.
    objective : str
        The search's first objective.
    """
    ok = [(i, r) for i, r in evaluated if r.ok]
    best = [i for i, _ in sorted(ok, key=lambda p: p[1].objective(objective))[:top_k]]
    default = evaluated[0][0]
    return best + ([default] if default.key() not in {i.key() for i in best} else [])


def verify_candidates(
    evaluated: Sequence[tuple[MeasureInput, MeasureResult]],
    fidelity: str,
    top_k: int,
    objective: str,
    runner: Runner,
    log=None,
) -> list[tuple[MeasureInput, MeasureResult]]:
    """Measure the :func:`candidates` at ``fidelity``: a result of the run itself (when the
    fidelity is the search's) or of the log is reused, the rest is submitted to ``runner`` in one
    batch and appended to ``log``.

    Parameters
    ----------
    evaluated : sequence of (MeasureInput, MeasureResult)
        As for :func:`candidates`.
    fidelity : str
        The verify fidelity.
    top_k : int
        How many of the search's best to verify (the Lava default comes on top).
    objective : str
        The search's first objective (the ranking).
    runner : Runner
        Where the new measurements are made.
    log : TuningLog, optional
        Consulted (``lookup``) before measuring; new results are appended.

    Returns
    -------
    list of (MeasureInput, MeasureResult)
        At ``fidelity``, in search rank, the Lava default last unless ranked.
    """
    run = {i.key(): r for i, r in evaluated}
    inputs = [
        dataclasses.replace(i, fidelity=fidelity) for i in candidates(evaluated, top_k, objective)
    ]
    known = [
        run[i.key()] if i.key() in run else log.lookup(i) if log is not None else None
        for i in inputs
    ]
    todo = [i for i, r in zip(inputs, known) if r is None]
    futures = iter(runner.submit(todo) if todo else [])
    out = []
    for inp, res in zip(inputs, known):
        if res is None:
            res = next(futures).result()
            if log is not None:
                log.append(inp, res)
        out.append((inp, res))
    return out


@dataclass(frozen=True)
class VerifyRace:
    """The verified candidates after racing them at a noisy verify fidelity.

    Attributes
    ----------
    verified : tuple of (MeasureInput, MeasureResult)
        As :func:`verify_candidates` returned them (search rank), each result the aggregate of
        its samples (:func:`~tvm_loihi.measure.samples.aggregate`, the mean).
    ranked : tuple of (MeasureInput, MeasureResult)
        The successful ones for the reported best: the race's winner first, then by mean, the
        undecided ones last.
    samples : dict
        Input key -> every sample of that candidate at the verify fidelity.
    repeats : int
        Measurements the races made (all appended to the log as samples).
    undecided : frozenset of str
        Keys whose race a failed measurement cut short: not shown better, never the winner.
    """

    verified: tuple
    ranked: tuple
    samples: dict = field(default_factory=dict)
    repeats: int = 0
    undecided: frozenset = frozenset()


def known_samples(
    verified: Sequence[tuple[MeasureInput, MeasureResult]], run_samples: dict, log=None
) -> dict[str, list[MeasureResult]]:
    """Every sample of each verified input known before racing: the run's own (when the verify
    fidelity is the search's), else the log's accepted ones, else the one result."""
    out = {}
    for inp, res in verified:
        key = inp.key()
        own = run_samples.get(key)
        logged = log.samples(inp) if own is None and hasattr(log, "samples") else None
        out[key] = list(own or logged or [res])
    return out


def race_verified(
    verified: Sequence[tuple[MeasureInput, MeasureResult]],
    samples: dict[str, list[MeasureResult]],
    reference: str,
    objective: str,
    policy: RacePolicy,
    runner: Runner,
    log=None,
) -> VerifyRace:
    """Race the verified candidates until the one with the lowest mean has beaten every
    candidate that looked better than it.

    The incumbent starts as the lowest mean of the *established* candidates: ``reference`` (the
    Lava default; the search's best when the default failed) and those already measured twice
    or more (a resumed run). Then, repeatedly, the candidate with the lowest mean below the
    incumbent's is raced against it exactly as in the search (:func:`~.racing.needs_race`, then
    :func:`~.racing.next_sample` / :func:`~.racing.verdict` until decided or both reach
    ``policy.max_samples``), and the lower mean of the two becomes the incumbent. A race whose
    repeat fails leaves its challenger undecided (not shown better). There is no budget: each
    mapping gets at most ``policy.max_samples`` samples, so at most ``len(verified) *
    (policy.max_samples - 1)`` repeats.

    Parameters
    ----------
    verified : sequence of (MeasureInput, MeasureResult)
        From :func:`verify_candidates`.
    samples : dict
        Input key -> its samples so far (:func:`known_samples`); extended in place.
    reference : str
        Input key of the Lava default at the verify fidelity.
    objective : str
        The search's first objective.
    policy : RacePolicy
        Samples per mapping at most and the confidence of a decided race.
    runner : Runner
        Where the repeats are measured.
    log : TuningLog, optional
        Every repeat is appended (``repeat=True``); an undecided race as its verdict line
        (:meth:`~tvm_loihi.measure.log.TuningLog.undecided`).

    Returns
    -------
    VerifyRace
    """
    inputs = {i.key(): i for i, _ in verified}
    order = [i.key() for i, r in verified if r.ok]
    undecided: set[str] = set()
    repeats = 0

    def figures(key: str) -> list[float]:
        return [r.objective(objective) for r in samples[key] if r.ok]

    def mean(key: str) -> tuple[float, int]:
        return aggregate(samples[key]).objective(objective), order.index(key)

    if order:
        ref = reference if reference in order else order[0]
        established = [k for k in order if k == ref or len(figures(k)) >= 2]
        incumbent = min(established, key=mean)
        while True:
            below = [
                k
                for k in order
                if k != incumbent and k not in undecided and mean(k)[0] < mean(incumbent)[0]
            ]
            if not below:  # the incumbent has the lowest mean: every race is decided
                break
            challenger = min(below, key=mean)
            cut, n = _race(challenger, incumbent, figures, samples, inputs, policy, runner, log)
            repeats += n
            if cut:
                undecided.add(challenger)
                if hasattr(log, "undecided"):
                    log.undecided(inputs[challenger], len(figures(challenger)), incumbent)
            elif mean(challenger) < mean(incumbent):
                incumbent = challenger
        rest = sorted((k for k in order if k != incumbent), key=lambda k: (k in undecided, mean(k)))
        ranked_keys = [incumbent, *rest]
    else:
        ranked_keys = []
    aggregates = {k: aggregate(v) for k, v in samples.items()}
    out = tuple((i, aggregates.get(i.key(), r)) for i, r in verified)
    ranked = tuple((inputs[k], aggregates[k]) for k in ranked_keys)
    return VerifyRace(out, ranked, samples, repeats, frozenset(undecided))


def _race(challenger, incumbent, figures, samples, inputs, policy, runner, log) -> tuple[bool, int]:
    """One race, as the search's (:meth:`tvm_loihi.tuning.driver._Tuner._race` without a
    budget): (cut short by a failed repeat, repeats made)."""
    sigma, df = noise(figures(k) for k in samples)
    c, i = figures(challenger), figures(incumbent)
    n = 0
    if not needs_race(c, i, sigma, df, policy):
        return False, 0
    while verdict(c, i, sigma, df, policy) == "more":
        key = challenger if next_sample(c, i, policy) == "challenger" else incumbent
        res = runner.submit([inputs[key]])[0].result()
        n += 1
        if log is not None:
            log.append(inputs[key], res, repeat=True)
        if not res.ok:  # a host or transport failure: not shown better
            return True, n
        samples[key].append(res)
        sigma, df = noise(figures(k) for k in samples)
        c, i = figures(challenger), figures(incumbent)
    return False, n
