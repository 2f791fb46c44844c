"""NSGA-II over (latency, energy): rank + crowding survival, asynchronous offspring.

The population is filled from the heuristic seeds and their mutants; afterwards every ask breeds one
child (binary tournament on front and crowding, OX/PMX crossover, count/placement mutation). Told
children collect in an offspring pool; once it holds ``pop_size`` of them, the union of population
and offspring is cut back to ``pop_size`` by non-dominated rank, then crowding distance. Works with
any number of objectives; the driver returns the Pareto front of everything measured.
"""

from __future__ import annotations

import numpy as np

from .base import Fitness, PopulationStrategy, pop_from, pop_json
from .genome import Genome
from .operators import crossover, mutate, random_genome
from .registry import register
from .selection import rank_and_crowding, survive, tournament


@register("nsga2")
class NSGA2(PopulationStrategy):
    """Steady-state-asynchronous NSGA-II."""

    def __init__(self, space, *, pop_size: int = 20, p_crossover: float = 0.8, **kw) -> None:
        super().__init__(space, **kw)
        self.pop_size, self.p_crossover = int(pop_size), float(p_crossover)
        self.pop: list[tuple[Genome, Fitness]] = []
        self.offspring: list[tuple[Genome, Fitness]] = []
        self.starts = list(self.seeds)
        self._rc: tuple[np.ndarray, np.ndarray] | None = None

    def _initial(self) -> Genome:
        if self.starts and self.rng.random() < 0.75:
            base = self.starts[int(self.rng.integers(len(self.starts)))]
            return mutate(base, self.space, self.rng, p_counts=0.5, max_step=4, n_moves=3)
        return random_genome(self.space, self.rng)

    def _breed(self, attempt: int) -> Genome:
        if self._rc is None:
            self._rc = rank_and_crowding(np.array([f for _, f in self.pop]))
        rank, crowd = self._rc
        a = self.pop[tournament(rank, crowd, self.rng)][0]
        if self.rng.random() < self.p_crossover:
            b = self.pop[tournament(rank, crowd, self.rng)][0]
            a = crossover(a, b, self.space, self.rng, "ox" if self.rng.random() < 0.5 else "pmx")
        return mutate(
            a, self.space, self.rng, p_counts=0.4, max_step=4 + attempt, n_moves=1 + attempt // 3
        )

    def _tell(self, genome: Genome, fitness: Fitness) -> None:
        if len(self.pop) < self.pop_size:
            self.pop.append((genome, fitness))
            self._rc = None
            return
        self.offspring.append((genome, fitness))
        if len(self.offspring) >= self.pop_size:
            union: dict[str, tuple[Genome, Fitness]] = {}
            for g, f in self.pop + self.offspring:
                union.setdefault(g.key(), (g, f))
            members = list(union.values())
            keep = survive(np.array([f for _, f in members]), self.pop_size)
            self.pop = [members[i] for i in keep]
            self.offspring = []
            self._rc = None

    def front(self) -> list[tuple[Genome, Fitness]]:
        """The current population's non-dominated members."""
        if not self.pop:
            return []
        rank, _ = rank_and_crowding(np.array([f for _, f in self.pop]))
        return [p for p, r in zip(self.pop, rank) if r == 0]

    def _state(self) -> dict:
        return {
            "pop": pop_json(self.pop),
            "offspring": pop_json(self.offspring),
            "starts": [g.to_json() for g in self.starts],
        }

    def _load(self, d: dict) -> None:
        self.pop, self.offspring = pop_from(d["pop"]), pop_from(d["offspring"])
        self.starts = [Genome.from_json(g) for g in d["starts"]]
        self._rc = None
