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
    """

    input: MeasureInput
    result: MeasureResult
    fitness: tuple[float, ...]
    cached: bool = False

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
        Index of the best evaluation by the first objective (the earliest among ties).
    last_improvement : int
        ``n_evaluations`` when the best last improved.
    duplicates : int
        Proposals of mappings already measured or in flight in this run (not evaluations).
    history : tuple of float
        Best-so-far first objective after every evaluation.
    """

    started: float = field(default_factory=time.monotonic)
    evaluations: tuple[Evaluation, ...] = ()
    best: int | None = None
    last_improvement: int = 0
    duplicates: int = 0
    history: tuple[float, ...] = ()

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

    def record(self, evaluation: Evaluation) -> TuneState:
        """The state after one more evaluation."""
        n = self.n_evaluations + 1
        best, improved = self.best, self.last_improvement
        if best is None or evaluation.fitness[0] < self.evaluations[best].fitness[0]:
            best, improved = n - 1, n
        best_value = (evaluation if best == n - 1 else self.evaluations[best]).fitness[0]
        return replace(
            self,
            evaluations=(*self.evaluations, evaluation),
            best=best,
            last_improvement=improved,
            history=(*self.history, best_value),
        )

    def with_duplicate(self) -> TuneState:
        """The state after one more duplicate proposal."""
        return replace(self, duplicates=self.duplicates + 1)
