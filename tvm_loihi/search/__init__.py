"""Evolutionary mapping search: genome, operators, selection and ask/tell strategies
(see docs/search.md).

Importing the package registers every strategy: ``bilevel``, ``ga``, ``nsga2`` (evolutionary) and
the baselines ``random``, ``annealing``, ``metis_greedy``, ``lava_default``.
"""

from __future__ import annotations

from . import annealing, bilevel, ga, lava_default, metis_greedy, nsga2, random_search  # noqa: F401
from .base import Strategy
from .genome import Genome, SearchSpace, is_feasible, reorder, repair, with_counts
from .registry import get_strategy, register, strategy_names

EVOLUTIONARY = ("bilevel", "ga", "nsga2")
BASELINES = ("random", "annealing", "metis_greedy", "lava_default")

__all__ = [
    "BASELINES",
    "EVOLUTIONARY",
    "Genome",
    "SearchSpace",
    "Strategy",
    "get_strategy",
    "is_feasible",
    "register",
    "reorder",
    "repair",
    "strategy_names",
    "with_counts",
]
