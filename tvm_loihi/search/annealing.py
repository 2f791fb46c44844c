"""Baseline: simulated annealing over a swap/move neighbourhood, geometric cooling over the budget.

Neighbours: swap two cores (a placement swap, or a used core with a free one -- a "move"), or move
one core's worth of neurons between layers / grow or shrink a layer by one core. Acceptance is
Metropolis on the *relative* change of the first objective, so the temperature does not depend on
the workload's scale: ``t_start = 0.05`` accepts a 5 % worse mapping with probability 1/e at the
start.
"""

from __future__ import annotations

import numpy as np

from .base import Fitness, Strategy, _pair_from, _pair_json
from .genome import Genome
from .operators import change_count, random_genome, swap_cores, transfer_cores
from .registry import register


@register("annealing")
class SimulatedAnnealing(Strategy):
    """Single-chain simulated annealing; asks in flight all start from the current state."""

    uses_seeds = False

    def __init__(self, space, *, t_start: float = 0.05, t_end: float = 5e-4, **kw) -> None:
        super().__init__(space, **kw)
        self.t_start, self.t_end = float(t_start), float(t_end)
        self.current: tuple[Genome, Fitness] | None = None

    def temperature(self) -> float:
        frac = min(1.0, self.n_told / max(1, self.budget))
        return self.t_start * (self.t_end / self.t_start) ** frac

    def _ask(self) -> Genome:
        if self.current is None:
            return self._next_seed() or random_genome(self.space, self.rng)
        g = self.current[0]
        r = self.rng.random()
        if r < 0.5:
            return swap_cores(g, self.space, self.rng)
        if r < 0.75:
            return transfer_cores(g, self.space, self.rng, max_step=1)
        return change_count(g, self.space, self.rng, max_step=1)

    def _tell(self, genome: Genome, fitness: Fitness) -> None:
        f = fitness[0]
        if self.current is None or not np.isfinite(self.current[1][0]):
            if np.isfinite(f) or self.current is None:
                self.current = (genome, fitness)
            return
        cur = self.current[1][0]
        delta = (f - cur) / max(abs(cur), 1e-300)
        if delta <= 0 or (
            np.isfinite(delta) and self.rng.random() < np.exp(-delta / self.temperature())
        ):
            self.current = (genome, fitness)

    def _state(self) -> dict:
        return {"current": _pair_json(self.current)}

    def _load(self, d: dict) -> None:
        self.current = _pair_from(d["current"])
