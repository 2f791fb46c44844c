"""Baseline: the Lava default mapping (fewest cores per layer, cores in id order),
one evaluation."""

from __future__ import annotations

from .base import Strategy
from .genome import Genome
from .registry import register


@register("lava_default")
class LavaDefault(Strategy):
    """Asks nothing: the driver always measures the Lava default first, which is this baseline."""

    uses_seeds = False

    def _ask(self) -> Genome | None:
        return None
