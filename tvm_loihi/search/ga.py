"""Joint genetic algorithm over counts and placement (steady state, elitist replacement).

Parents by binary tournament; a child takes each layer's count from either parent and a permutation
crossover (OX or PMX, cut points inside the used prefix) of their placements, then one mutation (a
count move with the locality-preserving reorder, or placement moves). A child replaces the worst
member when it is better and not already present. The initial population is the heuristic seeds,
then mutants of them (and a few random genomes for diversity).
"""

from __future__ import annotations

import numpy as np

from .base import Fitness, PopulationStrategy, pop_from, pop_json
from .genome import Genome
from .operators import crossover, mutate, random_genome
from .registry import register


def _tournament(fit: np.ndarray, rng: np.random.Generator) -> int:
    i, j = (int(x) for x in rng.integers(fit.size, size=2))
    return i if fit[i] <= fit[j] else j


@register("ga")
class JointGA(PopulationStrategy):
    """Steady-state GA with OX/PMX crossover and count/placement mutation."""

    def __init__(
        self, space, *, pop_size: int = 16, p_crossover: float = 0.7, p_random: float = 0.25, **kw
    ) -> None:
        super().__init__(space, **kw)
        self.pop_size = int(pop_size)
        self.p_crossover, self.p_random = float(p_crossover), float(p_random)
        self.pop: list[tuple[Genome, Fitness]] = []
        self.starts = list(self.seeds)

    def _initial(self) -> Genome:
        if not self.starts or self.rng.random() < self.p_random:
            return random_genome(self.space, self.rng)
        base = self.starts[int(self.rng.integers(len(self.starts)))]
        return mutate(base, self.space, self.rng, p_counts=0.5, max_step=4, n_moves=3)

    def _breed(self, attempt: int) -> Genome:
        fit = np.array([f[0] for _, f in self.pop])
        a = self.pop[_tournament(fit, self.rng)][0]
        if self.rng.random() < self.p_crossover:
            b = self.pop[_tournament(fit, self.rng)][0]
            kind = "ox" if self.rng.random() < 0.5 else "pmx"
            a = crossover(a, b, self.space, self.rng, kind)
        return mutate(
            a, self.space, self.rng, p_counts=0.4, max_step=4 + attempt, n_moves=1 + attempt // 3
        )

    def _tell(self, genome: Genome, fitness: Fitness) -> None:
        key = genome.key()
        if any(g.key() == key for g, _ in self.pop):
            return
        if len(self.pop) < self.pop_size:
            self.pop.append((genome, fitness))
            return
        worst = int(np.argmax([f[0] for _, f in self.pop]))
        if fitness[0] < self.pop[worst][1][0]:
            self.pop[worst] = (genome, fitness)

    def _state(self) -> dict:
        return {"pop": pop_json(self.pop), "starts": [g.to_json() for g in self.starts]}

    def _load(self, d: dict) -> None:
        self.pop = pop_from(d["pop"])
        self.starts = [Genome.from_json(g) for g in d["starts"]]
