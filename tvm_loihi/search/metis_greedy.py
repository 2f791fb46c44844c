"""Baseline: METIS partition of the logical-core traffic graph + greedy placement (traffic x hops).

For a total core count ``K`` the counts are work-balanced (:func:`~.heuristics.balanced_counts`);
pymetis splits the resulting logical cores into ``P`` parts with few spike messages between them;
every part gets a contiguous region of the snake walk (parts ordered by the mean layer they hold, so
the pipeline flows across the mesh), and inside it logical cores are placed greedily, each on the
free core that minimises traffic x hop distance to what is already placed. The budget is spent on a
sweep: a grid of ``K`` from the minimum to every core, times ``P`` in (1, 2, 4, 8) (rounded to chips
on multi-chip systems), then random ``(K, P)`` with random tie-breaking.
"""

from __future__ import annotations

import numpy as np

from .base import Strategy
from .genome import Genome, repair
from .heuristics import balanced_counts, greedy_placement
from .registry import register

_PARTS = (1, 2, 4, 8)


def metis_parts(traffic: np.ndarray, n_parts: int, seed: int) -> np.ndarray:
    """pymetis partition of the symmetrised traffic graph into ``n_parts`` (vertex -> part)."""
    import pymetis

    t = traffic + traffic.T
    n = t.shape[0]
    if n_parts <= 1 or n <= n_parts:
        return np.zeros(n, dtype=np.int64) if n_parts <= 1 else np.arange(n) % n_parts
    rows, cols = np.nonzero(t)
    weights = np.maximum(1, np.round(t[rows, cols] / max(t.max(), 1e-12) * 1000)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    adjacency = pymetis.CSRAdjacency(starts.tolist(), cols.tolist())
    part = pymetis.part_graph(
        n_parts, adjacency, eweights=weights.tolist(), options=pymetis.Options(seed=int(seed))
    )
    return np.asarray(part.vertex_part, dtype=np.int64)


@register("metis_greedy")
class MetisGreedy(Strategy):
    """Sweep of METIS + greedy constructions over total core count and part count."""

    uses_seeds = False

    def __init__(self, space, *, levels: int = 8, **kw) -> None:
        super().__init__(space, **kw)
        if self.traffic is None:
            raise ValueError("metis_greedy needs the problem's traffic function (pass traffic=...)")
        lo = sum(space.min_counts)
        grid = np.linspace(lo, space.n_cores, max(2, levels)).round().astype(int)
        self.totals = np.unique(grid).tolist()

    def _plan(self, i: int) -> tuple[int, int, bool]:
        grid = [(k, p) for k in self.totals for p in _PARTS]
        if i < len(grid):
            return grid[i][0], grid[i][1], False
        lo = sum(self.space.min_counts)
        return (
            int(self.rng.integers(lo, self.space.n_cores + 1)),
            int(self.rng.choice(_PARTS)),
            True,
        )

    def _ask(self) -> Genome:
        total, n_parts, jitter = self._plan(self.n_asked - 1)
        counts = balanced_counts(self.space, total)
        t = self.traffic(counts)
        layer = np.repeat(np.arange(len(counts)), counts)
        parts = metis_parts(t, n_parts, seed=self.n_asked)
        ranked = sorted(np.unique(parts), key=lambda p: (layer[parts == p].mean(), p))
        n_used, place = sum(counts), np.empty(sum(counts), dtype=np.int64)
        region, start = self.order[:n_used], 0
        for p in ranked:
            members = np.flatnonzero(parts == p)
            cand = region[start : start + members.size]
            sub = t[np.ix_(members, members)]
            place[members] = greedy_placement(
                sub, self.space.hops, cand, self.rng if jitter else None
            )
            start += members.size
        rest = np.setdiff1d(self.order, place, assume_unique=True)
        rest = self.order[np.isin(self.order, rest)]
        perm = tuple(int(c) for c in np.concatenate([place, rest]))
        return repair(Genome(counts, perm), self.space)
