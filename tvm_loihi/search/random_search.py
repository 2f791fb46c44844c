"""Baseline: uniform random search over feasible genomes (same budget as every strategy)."""

from __future__ import annotations

from .base import Strategy
from .genome import Genome
from .operators import random_genome
from .registry import register


@register("random")
class RandomSearch(Strategy):
    """Every ask is an independent :func:`~tvm_loihi.search.operators.random_genome`."""

    uses_seeds = False

    def _ask(self) -> Genome:
        return random_genome(self.space, self.rng)
