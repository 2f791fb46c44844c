"""The mapping genome: cores per layer plus a placement permutation of every physical core.

Encoding
--------
``counts[k]`` is the number of cores layer ``k`` is split over (neurons divided evenly, as
:meth:`tvm_loihi.model.mapping.Mapping.from_assignment` does); ``perm`` is a permutation of all
physical cores (across chips). Decoding hands the first ``counts[0]`` entries of ``perm`` to layer
0, the next ``counts[1]`` to layer 1 and so on; the tail is the free pool. The tail does not change
the decoded mapping, but it does decide which free cores a layer grows into, so it is part of the
genome.

Two pure functions keep genomes feasible, both idempotent:

* :func:`reorder` -- change the counts while keeping placement local: a layer keeps the first
  ``min(old, new)`` cores of its block, surplus cores return to the free pool, and a deficit is
  filled from the pool with the cores nearest (in router hops) to the cores the layer kept.
* :func:`repair` -- make any genome feasible: a proper permutation, counts within
  ``[min_counts, max_counts]``, total within the core budget, and counts the hardware accepts
  (``SearchSpace.check_counts``, which can demand more cores than the per-layer minimum, e.g. when a
  neighbour's split changes a core's fan-out), then :func:`reorder`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

CountsCheck = Callable[[tuple[int, ...]], "int | None"]


@dataclass(frozen=True)
class Genome:
    """One candidate mapping in search space.

    Parameters
    ----------
    counts : tuple of int
        Cores per layer.
    perm : tuple of int
        A permutation of all physical core ids; the first ``sum(counts)`` are used.
    """

    counts: tuple[int, ...]
    perm: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", tuple(int(c) for c in self.counts))
        object.__setattr__(self, "perm", tuple(int(p) for p in self.perm))

    @property
    def n_used(self) -> int:
        return sum(self.counts)

    def core_ids(self) -> tuple[int, ...]:
        """Physical cores in use, layer by layer (the ``core_ids`` of
        ``Mapping.from_assignment``)."""
        return self.perm[: self.n_used]

    def blocks(self) -> list[tuple[int, ...]]:
        """Per layer, its physical cores."""
        ends = np.cumsum(self.counts)
        return [self.perm[e - c : e] for c, e in zip(self.counts, ends)]

    def key(self) -> str:
        """Hash of what the genome decodes to
        (counts and used cores; the free-pool order is ignored)."""
        text = json.dumps([self.counts, self.core_ids()], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def to_json(self) -> dict:
        return {"counts": list(self.counts), "perm": list(self.perm)}

    @classmethod
    def from_json(cls, d: dict) -> Genome:
        return cls(tuple(d["counts"]), tuple(d["perm"]))


@dataclass(frozen=True, eq=False)
class SearchSpace:
    """What a genome may be on one (network, hardware) pair.

    Parameters
    ----------
    n_cores : int
        Physical cores available (all chips).
    min_counts, max_counts : tuple of int
        Per layer, the fewest cores that satisfy the per-core limits and the most that make sense
        (one neuron per core at most, never more than ``n_cores``).
    hops : numpy.ndarray
        ``(n_cores, n_cores)`` router-hop distance between physical cores (chip crossings weighted).
    layer_work : tuple of float
        Relative synaptic work per layer (for heuristic seeds); defaults to uniform.
    check_counts : callable, optional
        ``counts -> layer index`` of a layer that needs more cores than it has for the hardware to
        accept the mapping, or None when the counts are acceptable. Results are cached per counts.
    count_model : object, optional
        A placement-free model of the partitioning with ``allocate(total) -> counts`` and
        ``rebalance(counts, n_moves) -> counts`` (e.g.
        :class:`~tvm_loihi.search.pipeline.PipelineModel`); the model-guided count moves fall back
        to random ones without it.
    """

    n_cores: int
    min_counts: tuple[int, ...]
    max_counts: tuple[int, ...]
    hops: np.ndarray
    layer_work: tuple[float, ...] = ()
    check_counts: CountsCheck | None = None
    count_model: object | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        lo = tuple(int(c) for c in self.min_counts)
        hi = tuple(min(int(c), int(self.n_cores)) for c in self.max_counts)
        object.__setattr__(self, "min_counts", lo)
        object.__setattr__(self, "max_counts", hi)
        if len(lo) != len(hi) or not lo:
            raise ValueError(f"search space: {len(lo)} min counts but {len(hi)} max counts")
        bad = [k for k, (a, b) in enumerate(zip(lo, hi)) if not 1 <= a <= b]
        if bad:
            k = bad[0]
            raise ValueError(
                f"search space: layer {k} needs {lo[k]} cores, at most {hi[k]} allowed"
            )
        if sum(lo) > self.n_cores:
            raise ValueError(
                f"search space: the layers need at least {sum(lo)} cores, the hardware has "
                f"{self.n_cores} ({sum(lo) - self.n_cores} too many)"
            )
        hops = np.asarray(self.hops, dtype=np.float64)
        if hops.shape != (self.n_cores, self.n_cores):
            raise ValueError(
                f"search space: hops must be {self.n_cores}x{self.n_cores}, got {hops.shape}"
            )
        object.__setattr__(self, "hops", hops)
        work = tuple(float(w) for w in self.layer_work) or (1.0,) * len(lo)
        if len(work) != len(lo):
            raise ValueError(f"search space: {len(work)} layer work figures for {len(lo)} layers")
        object.__setattr__(self, "layer_work", work)

    @property
    def n_layers(self) -> int:
        return len(self.min_counts)

    def violating_layer(self, counts: tuple[int, ...]) -> int | None:
        """The layer the hardware check rejects for ``counts`` (cached), or None."""
        if self.check_counts is None:
            return None
        counts = tuple(int(c) for c in counts)
        if counts not in self._cache:
            self._cache[counts] = self.check_counts(counts)
        return self._cache[counts]


def _offsets(counts: Sequence[int], n_cores: int) -> np.ndarray:
    return np.minimum(np.concatenate([[0], np.cumsum(counts)]), n_cores).astype(np.int64)


def reorder(
    perm: Sequence[int], old_counts: Sequence[int], new_counts: Sequence[int], hops: np.ndarray
) -> tuple[int, ...]:
    """Locality-preserving placement for new counts
    (pure; idempotent when the counts are unchanged).

    Parameters
    ----------
    perm : sequence of int
        A permutation of all physical cores, decoded with ``old_counts``.
    old_counts, new_counts : sequence of int
        Cores per layer before and after (``sum(new_counts) <= len(perm)``).
    hops : numpy.ndarray
        Hop-distance matrix used to pick the free cores nearest to what a growing layer kept.

    Returns
    -------
    tuple of int
        The new permutation: layer blocks in order, then the free pool in its old relative order.
    """
    perm = np.asarray(perm, dtype=np.int64)
    n = perm.size
    old, new = _offsets(old_counts, n), list(int(c) for c in new_counts)
    kept = [perm[old[k] : old[k] + min(int(old[k + 1] - old[k]), new[k])] for k in range(len(new))]
    in_use = np.zeros(n, dtype=bool)
    for block in kept:
        in_use[block] = True
    pool = perm[~in_use[perm]]  # free cores in their old order; surplus rejoins here
    blocks = []
    for k, block in enumerate(kept):
        deficit = new[k] - block.size
        if deficit > 0:
            ref = block if block.size else (blocks[-1] if blocks and blocks[-1].size else None)
            if ref is None:
                take = np.arange(deficit)
            else:  # nearest free cores to the layer's own cores (or to the previous layer's)
                dist = hops[np.ix_(pool, ref)].min(axis=1)
                take = np.argsort(dist, kind="stable")[:deficit]
            block = np.concatenate([block, pool[np.sort(take)]])
            pool = np.delete(pool, take)
        blocks.append(block)
    return tuple(int(c) for c in np.concatenate([*blocks, pool]))


def _fix_perm(perm: Sequence[int], n_cores: int) -> np.ndarray:
    p = np.asarray(perm, dtype=np.int64).ravel()
    p = p[(p >= 0) & (p < n_cores)]
    _, first = np.unique(p, return_index=True)
    p = p[np.sort(first)]
    missing = np.setdiff1d(np.arange(n_cores), p)
    return np.concatenate([p, missing])


def _fix_counts(counts: Sequence[int], space: SearchSpace) -> tuple[int, ...]:
    lo, hi = np.array(space.min_counts), np.array(space.max_counts)
    c = np.asarray(counts, dtype=np.int64).ravel()[: space.n_layers]
    c = np.clip(np.concatenate([c, lo[c.size :]]), lo, hi)
    floor, ceil = lo.copy(), hi.copy()
    for _ in range(2 * int(hi.sum()) + 1):  # every round raises a floor or lowers a ceiling
        c = _shrink_to_budget(np.clip(c, floor, ceil), floor, space.n_cores)
        bad = space.violating_layer(tuple(int(x) for x in c))
        if bad is None:
            return tuple(int(x) for x in c)
        nxt = bad + 1
        if c[bad] < ceil[bad]:  # more cores for the layer over a per-core limit
            c[bad] += 1
            # the check is taken as monotone in the layer's count
            floor[bad] = max(floor[bad], c[bad])
        elif nxt < c.size and c[nxt] > floor[nxt]:
            # else split its successor less (fewer fan-out targets)
            c[nxt] -= 1
            ceil[nxt] = min(ceil[nxt], c[nxt])
        else:
            raise ValueError(
                f"search space: layer {bad} is rejected by the hardware even at its "
                f"maximum of {ceil[bad]} cores (counts {tuple(int(x) for x in c)})"
            )
        if floor.sum() > space.n_cores:
            raise ValueError(
                f"search space: no feasible counts; layer {bad} needs {floor[bad]} "
                f"cores and the layers together need {floor.sum()} of {space.n_cores}"
            )
    raise ValueError("search space: count repair did not converge")


def _shrink_to_budget(c: np.ndarray, floor: np.ndarray, n_cores: int) -> np.ndarray:
    c = c.copy()
    while c.sum() > n_cores:  # take one core from the layer with the most slack (last on ties)
        slack = c - floor
        k = int(len(c) - 1 - np.argmax(slack[::-1]))
        c[k] -= min(int(slack[k]), int(c.sum() - n_cores))
    return c


def repair(genome: Genome, space: SearchSpace) -> Genome:
    """Make any genome feasible
    (pure; ``repair(repair(g)) == repair(g)``; feasible genomes unchanged).

    Raises
    ------
    ValueError
        When no counts satisfy the hardware at all (names the layer and the shortfall).
    """
    perm = _fix_perm(genome.perm, space.n_cores)
    counts = _fix_counts(genome.counts, space)
    old = tuple(genome.counts[: space.n_layers]) + (0,) * max(
        0, space.n_layers - len(genome.counts)
    )
    old = tuple(max(0, int(c)) for c in old)
    if counts == old and tuple(perm) == genome.perm:
        return genome
    return Genome(counts, reorder(perm, old, counts, space.hops))


def is_feasible(genome: Genome, space: SearchSpace) -> bool:
    """True when ``genome`` is a proper permutation with acceptable counts."""
    c = np.asarray(genome.counts)
    return (
        len(genome.perm) == space.n_cores
        and np.array_equal(np.sort(genome.perm), np.arange(space.n_cores))
        and c.size == space.n_layers
        and bool(np.all(c >= space.min_counts) and np.all(c <= space.max_counts))
        and c.sum() <= space.n_cores
        and space.violating_layer(genome.counts) is None
    )


def with_counts(genome: Genome, counts: Sequence[int], space: SearchSpace) -> Genome:
    """``genome`` with new counts (made feasible first), placement reordered locally."""
    fixed = _fix_counts(counts, space)
    base = repair(genome, space)
    return Genome(fixed, reorder(base.perm, base.counts, fixed, space.hops))
