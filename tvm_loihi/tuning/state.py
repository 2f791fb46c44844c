"""The explicit state of a tuning run: every evaluation so far, the best, and counters.

:class:`TuneState` is a value: :meth:`TuneState.record` returns a new state, so the driver, the
stopping rules and the verify step read one consistent snapshot and nothing else changes it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace

from ..measure.records import MeasureInput, MeasureResult


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a tuning run.

    Attributes
    ----------
    input, result
        What was measured and what came back.
    fitness : tuple of float
        The objectives (``inf`` for failures).
    cached : bool
        Answered by the tuning log (measured by an earlier run).
    sample : int
        0 for the first evaluation of a mapping in this run; ``k`` for its ``k``-th repeat (a
        race on a noisy backend, :mod:`tvm_loihi.tuning.racing`), which counts against the
        budget like any evaluation.
    """

    input: MeasureInput
    result: MeasureResult
    fitness: tuple[float, ...]
    cached: bool = False
    sample: int = 0

    @functools.cached_property
    def key(self) -> str:
        return self.input.key()


@dataclass(frozen=True)
class TuneState:
    """Everything the driver knows of a run so far.

    Attributes
    ----------
    started : float
        ``time.monotonic()`` at the start.
    evaluations : tuple of Evaluation
        In evaluation order; the first is the Lava default.
    best : int or None
        Index of the (first) evaluation of the best mapping by the first objective of its
        aggregate fitness (the earliest among ties).
    last_improvement : int
        ``n_evaluations`` when the best last improved.
    duplicates : int
        Proposals of mappings already measured or in flight in this run (not evaluations).
    history : tuple of float
        Best-so-far first objective after every evaluation (of the mappings' aggregates: it can
        rise when repeats show that a lucky incumbent is slower than its first sample said).
    aggregates : dict
        Input key -> the mapping's aggregate fitness (the fitness itself without repeats).
    undecided : frozenset of str
        Keys whose race against the incumbent the budget or the wall time cut short: not shown
        better, so they never become the best (:meth:`with_undecided`).
    """

    started: float = field(default_factory=time.monotonic)
    evaluations: tuple[Evaluation, ...] = ()
    best: int | None = None
    last_improvement: int = 0
    duplicates: int = 0
    history: tuple[float, ...] = ()
    aggregates: dict = field(default_factory=dict)
    undecided: frozenset = frozenset()

    @property
    def n_evaluations(self) -> int:
        return len(self.evaluations)

    @property
    def cache_hits(self) -> int:
        return sum(e.cached for e in self.evaluations)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def best_evaluation(self) -> Evaluation | None:
        return None if self.best is None else self.evaluations[self.best]

    @property
    def values(self) -> tuple[float, ...]:
        """The first objective of every evaluation."""
        return tuple(e.fitness[0] for e in self.evaluations)

    @functools.cached_property
    def by_key(self) -> dict[str, Evaluation]:
        """The first evaluation of every distinct input key."""
        out: dict[str, Evaluation] = {}
        for e in self.evaluations:
            out.setdefault(e.key, e)
        return out

    @property
    def repeats(self) -> int:
        """Evaluations that were repeats of a mapping already evaluated in this run."""
        return sum(e.sample > 0 for e in self.evaluations)

    def record(
        self, evaluation: Evaluation, aggregate: tuple[float, ...] | None = None
    ) -> TuneState:
        """The state after one more evaluation; ``aggregate`` is its mapping's fitness over all
        its samples so far (default: this evaluation's fitness)."""
        n = self.n_evaluations + 1
        key = evaluation.key
        agg = dict(self.aggregates)
        agg[key] = tuple(aggregate) if aggregate is not None else evaluation.fitness
        evaluations = (*self.evaluations, evaluation)
        first = self.by_key.get(key)
        index = n - 1 if first is None else self.evaluations.index(first)
        best, improved = self.best, self.last_improvement
        old_value = None if best is None else self.history[-1]
        if key in self.undecided:
            pass
        elif best is None or agg[key][0] < old_value:
            best = index
        elif best == index and agg[key][0] > old_value:  # the incumbent's repeats revised it up
            best = _best_index(evaluations, agg, self.undecided)
        best_key = evaluations[best].key
        best_value = agg[best_key][0]
        if old_value is None or best_value < old_value:
            improved = n
        return replace(
            self,
            evaluations=evaluations,
            best=best,
            last_improvement=improved,
            history=(*self.history, best_value),
            aggregates=agg,
        )

    def with_undecided(self, key: str) -> TuneState:
        """The state after a race of ``key`` was cut short: it cannot be the best (the previous
        best by aggregate is restored, the last history entry corrected)."""
        undecided = self.undecided | {key}
        best = _best_index(self.evaluations, self.aggregates, undecided)
        if best is None:
            return replace(self, undecided=undecided)
        value = self.aggregates[self.evaluations[best].key][0]
        return replace(self, undecided=undecided, best=best, history=(*self.history[:-1], value))

    def with_duplicate(self) -> TuneState:
        """The state after one more duplicate proposal."""
        return replace(self, duplicates=self.duplicates + 1)


def _best_index(evaluations, aggregates: dict, excluded) -> int | None:
    """Index of the first evaluation of the key with the lowest aggregate (earliest on ties),
    ``excluded`` keys left out (None when nothing is left)."""
    keys = [k for k in dict.fromkeys(e.key for e in evaluations) if k not in excluded]
    if not keys:
        return None
    winner = min(keys, key=lambda k: (aggregates[k][0], keys.index(k)))
    return next(i for i, e in enumerate(evaluations) if e.key == winner)
