"""Pareto ranking and selection for minimisation (NSGA-II: non-dominated sort, crowding, survival).

``crowding_distance`` is Deb's sum of normalised neighbour gaps; pymoo's ``calc_crowding_distance``
divides the same sum by the number of objectives (checked in tests/test_search_selection.py), which
does not change any ranking.
"""

from __future__ import annotations

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` Pareto-dominates ``b`` (no worse everywhere, better somewhere; minimisation)."""
    return bool(np.all(a <= b) and np.any(a < b))


def nondominated_rank(F: np.ndarray) -> np.ndarray:
    """Front index of every row of ``F`` ``(n, n_obj)``: 0 for the non-dominated set,
    1 for the next...

    Vectorised pairwise dominance (n is a population, at most a few hundred).
    """
    F = np.asarray(F, dtype=np.float64)
    n = F.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    le = np.all(F[:, None, :] <= F[None, :, :], axis=2)
    lt = np.any(F[:, None, :] < F[None, :, :], axis=2)
    dom = le & lt  # dom[i, j]: i dominates j
    n_dominators = dom.sum(axis=0)
    rank = np.full(n, -1, dtype=np.int64)
    front = np.flatnonzero(n_dominators == 0)
    r = 0
    while front.size:
        rank[front] = r
        n_dominators = n_dominators - dom[front].sum(axis=0)
        n_dominators[rank >= 0] = -1
        front = np.flatnonzero(n_dominators == 0)
        r += 1
    return rank


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """Crowding distance of the points of one front
    (``inf`` at the extremes and for fronts of <= 2)."""
    F = np.asarray(F, dtype=np.float64)
    n, n_obj = F.shape
    if n <= 2:
        return np.full(n, np.inf)
    order = np.argsort(F, axis=0, kind="mergesort")
    sorted_f = F[order, np.arange(n_obj)]
    span = sorted_f[-1] - sorted_f[0]
    span[span == 0] = np.nan
    padded = np.vstack([np.full(n_obj, -np.inf), sorted_f, np.full(n_obj, np.inf)])
    gap = (padded[2:] - padded[:-2]) / span
    gap[np.isnan(gap)] = 0.0
    out = np.empty_like(gap)
    out[order, np.arange(n_obj)] = gap
    return out.sum(axis=1)


def rank_and_crowding(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Front index and within-front crowding distance of every row."""
    F = np.asarray(F, dtype=np.float64)
    rank = nondominated_rank(F)
    crowd = np.zeros(F.shape[0])
    for r in np.unique(rank):
        members = np.flatnonzero(rank == r)
        crowd[members] = crowding_distance(F[members])
    return rank, crowd


def survive(F: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` survivors: by front, then by decreasing crowding (stable on ties)."""
    rank, crowd = rank_and_crowding(F)
    order = np.lexsort((-crowd, rank))
    return np.sort(order[:n])


def tournament(rank: np.ndarray, crowd: np.ndarray, rng: np.random.Generator) -> int:
    """Binary tournament on (rank, crowding): lower front wins, then the less crowded."""
    i, j = (int(x) for x in rng.integers(rank.size, size=2))
    if rank[i] != rank[j]:
        return i if rank[i] < rank[j] else j
    return i if crowd[i] >= crowd[j] else j


def pareto_front(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``F``."""
    return np.flatnonzero(nondominated_rank(F) == 0) if len(F) else np.zeros(0, dtype=np.int64)
