"""When a tuning run stops: small rule objects over the run's :class:`~.state.TuneState`.

A rule answers :meth:`Termination.reason` (a short reason once the run must stop, else None) and
may bound how many more candidates can be submitted (:meth:`Termination.remaining`) or by when the
driver must stop waiting (:meth:`Termination.deadline`). Rules combine with :class:`AnyOf` (or
``rule_a | rule_b``); the first rule that fires names the stop reason. Write your own by
subclassing :class:`Termination` (e.g. stop at a target latency)::

    class TargetLatency(Termination):
        def __init__(self, seconds):
            self.seconds = seconds

        def reason(self, state):
            best = state.best_evaluation
            return "target" if best is not None and best.fitness[0] <= self.seconds else None

    tune(network, hardware, termination=TargetLatency(300e-6))
"""

from __future__ import annotations

from .state import TuneState


class Termination:
    """Base class of stopping rules (the default never stops a run)."""

    def reason(self, state: TuneState) -> str | None:
        """A short stop reason (e.g. ``"budget"``) once the run must stop, else None."""
        return None

    def remaining(self, state: TuneState) -> int | None:
        """How many more evaluations may be submitted (None: no bound)."""
        return None

    def deadline(self, state: TuneState) -> float | None:
        """``time.monotonic()`` value at which the run stops waiting (None: no deadline)."""
        return None

    def __or__(self, other: Termination) -> AnyOf:
        return AnyOf(self, other)


class AnyOf(Termination):
    """Stops when any of its rules does (the first in order names the reason)."""

    def __init__(self, *rules: Termination) -> None:
        flat: list[Termination] = []
        for rule in rules:
            if not isinstance(rule, Termination):
                raise TypeError(
                    f"termination rules must be Termination objects, got {type(rule).__name__}"
                )
            flat += rule.rules if isinstance(rule, AnyOf) else [rule]
        self.rules = tuple(flat)

    def reason(self, state: TuneState) -> str | None:
        return next((r for r in (rule.reason(state) for rule in self.rules) if r), None)

    def remaining(self, state: TuneState) -> int | None:
        bounds = [b for b in (rule.remaining(state) for rule in self.rules) if b is not None]
        return min(bounds) if bounds else None

    def deadline(self, state: TuneState) -> float | None:
        times = [t for t in (rule.deadline(state) for rule in self.rules) if t is not None]
        return min(times) if times else None

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.rules))


class Budget(Termination):
    """At most ``evaluations`` evaluations (the Lava default and tuning-log hits included)."""

    def __init__(self, evaluations: int) -> None:
        if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
            raise ValueError(f"budget must be an int >= 1, got {evaluations!r}")
        self.evaluations = evaluations

    def reason(self, state: TuneState) -> str | None:
        return "budget" if state.n_evaluations >= self.evaluations else None

    def remaining(self, state: TuneState) -> int | None:
        return max(0, self.evaluations - state.n_evaluations)

    def __repr__(self) -> str:
        return f"Budget({self.evaluations})"


class WallTime(Termination):
    """Stop after ``seconds`` of wall time (what is still in flight is abandoned)."""

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise ValueError(f"wall time must be a positive number of seconds, got {seconds!r}")
        self.seconds = float(seconds)

    def reason(self, state: TuneState) -> str | None:
        return "wall_time" if state.elapsed_s >= self.seconds else None

    def deadline(self, state: TuneState) -> float | None:
        return state.started + self.seconds

    def __repr__(self) -> str:
        return f"WallTime({self.seconds:g})"


class Stagnation(Termination):
    """Stop after ``evaluations`` evaluations without improving the best first objective."""

    def __init__(self, evaluations: int) -> None:
        if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
            raise ValueError(f"stagnation must be an int >= 1, got {evaluations!r}")
        self.evaluations = evaluations

    def reason(self, state: TuneState) -> str | None:
        stale = state.n_evaluations - state.last_improvement
        return "stagnation" if stale >= self.evaluations else None

    def __repr__(self) -> str:
        return f"Stagnation({self.evaluations})"


class Exhausted(Termination):
    """Stop once the strategy has re-proposed more than ``duplicates`` already-known mappings."""

    def __init__(self, duplicates: int) -> None:
        self.duplicates = int(duplicates)

    def reason(self, state: TuneState) -> str | None:
        return "exhausted" if state.duplicates > self.duplicates else None

    def __repr__(self) -> str:
        return f"Exhausted({self.duplicates})"
