"""Bilevel evolution strategy: an outer loop over partitioning, an inner loop over placement.

Design (documented in docs/search.md)
-------------------------------------
* **Seeds first.** The heuristic seeds (Lava default re-laid along the snake walk, work-balanced
  counts at several sizes, contiguous and interleaved) are evaluated first.
* **Elitist incumbent.** The best mapping seen so far (first objective) is the parent of every
  proposal; nothing worse ever replaces it.
* **Inner loop (placement).** Placement moves of the incumbent's partitioning with its counts fixed:
  swap cores, swap cores between consecutive layers, move a layer's block to a compact region,
  shuffle slices within a block. The number of moves per proposal adapts by the 1/5 success rule.
* **Outer loop (partitioning).** Count moves of the incumbent: grow or shrink a layer by ``1..step``
  cores, move cores between layers, or rescale every count by a common factor. Placement follows by
  the locality-preserving reorder, so a new partitioning starts from the incumbent's optimised
  placement rather than from scratch; the step adapts by the 1/5 rule.
* **Alternation.** The search runs outer and inner batches in turn; each batch's length is a share
  of a 16-evaluation cycle in proportion to how often that loop has improved the incumbent (a
  Laplace-smoothed success rate), between 3 and 13 evaluations.

Proposals in flight all derive from the incumbent at ask time, so asynchronous tells are safe; the
phase and the parent's fitness of every proposal are remembered (by genome key) for the adaptation.
"""

from __future__ import annotations

import numpy as np

from .base import Fitness, Strategy
from .genome import Genome, with_counts
from .operators import mutate_counts, mutate_placement, random_genome
from .registry import register

_CYCLE = 16


@register("bilevel")
class BilevelES(Strategy):
    """Bilevel (1+lambda) evolution strategy over partitioning (outer) and placement (inner)."""

    def __init__(self, space, *, p_rescale: float = 0.25, **kw) -> None:
        super().__init__(space, **kw)
        self.p_rescale = float(p_rescale)
        self.phase, self.left = "inner", 0
        self.moves = 1.0  # placement moves per inner proposal
        self.step = float(max(1, space.n_cores // 32))  # count step of outer proposals
        self.wins = {"outer": 0, "inner": 0}
        self.trials = {"outer": 0, "inner": 0}
        self.pending: dict[str, list] = {}

    def _ask(self) -> Genome:
        seed = self._next_seed()
        if seed is not None:
            return seed
        if self.best is None:
            return random_genome(self.space, self.rng)
        if self.left <= 0:
            self._switch()
        self.left -= 1
        phase = self.phase
        child = self._fresh(lambda attempt: self._propose(phase, attempt))
        self.pending.setdefault(child.key(), []).append([phase, self.best[1][0]])
        return child

    def _propose(self, phase: str, attempt: int) -> Genome:
        parent = self.best[0]
        if attempt >= 14:  # everything near the incumbent is known: restart from a random genome
            return random_genome(self.space, self.rng)
        if attempt >= 8:  # the incumbent's neighbourhood is exhausted: try the other loop
            phase = "outer" if phase == "inner" else "inner"
        boost = attempt // 3  # escalate the move size while proposals only revisit known genomes
        if phase == "inner":
            return mutate_placement(parent, self.space, self.rng, round(self.moves) + boost)
        if self.rng.random() < self.p_rescale:
            return self._rescale(parent)
        return mutate_counts(parent, self.space, self.rng, max_step=round(self.step) + boost)

    def _rescale(self, g: Genome) -> Genome:
        factor = float(np.exp(self.rng.normal(0.0, 0.25)))
        counts = np.maximum(1, np.round(np.asarray(g.counts) * factor)).astype(int)
        return with_counts(g, counts, self.space)

    def _switch(self) -> None:
        rate = {p: (self.wins[p] + 1) / (self.trials[p] + 2) for p in ("outer", "inner")}
        self.phase = "outer" if self.phase == "inner" else "inner"
        share = rate[self.phase] / (rate["outer"] + rate["inner"])
        self.left = int(np.clip(round(_CYCLE * share), 3, _CYCLE - 3))

    def _tell(self, genome: Genome, fitness: Fitness) -> None:
        tags = self.pending.get(genome.key())
        if not tags:
            return
        phase, parent_f = tags.pop(0)
        if not tags:
            del self.pending[genome.key()]
        success = fitness[0] < parent_f
        self.trials[phase] += 1
        self.wins[phase] += int(success)
        up, down = 1.5, 1.5**-0.25  # 1/5 success rule: stationary at a 20 % success rate
        if phase == "inner":
            self.moves = float(np.clip(self.moves * (up if success else down), 1.0, 8.0))
        else:
            hi = max(1.0, self.space.n_cores / 4)
            self.step = float(np.clip(self.step * (up if success else down), 1.0, hi))

    def _state(self) -> dict:
        return {
            "phase": self.phase,
            "left": self.left,
            "moves": self.moves,
            "step": self.step,
            "wins": self.wins,
            "trials": self.trials,
            "pending": self.pending,
        }

    def _load(self, d: dict) -> None:
        self.phase, self.left = d["phase"], int(d["left"])
        self.moves, self.step = float(d["moves"]), float(d["step"])
        self.wins, self.trials = dict(d["wins"]), dict(d["trials"])
        self.pending = {k: [list(t) for t in v] for k, v in d["pending"].items()}
