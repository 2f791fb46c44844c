"""Cheap constructive mappings: work-balanced counts, snake-order placements,
greedy traffic placement.

These seed the evolutionary strategies and build the METIS+greedy baseline. Latency per timestep is
set by the slowest core, so counts proportional to each layer's synaptic work balance the pipeline;
placing layers as contiguous blocks along a boustrophedon ("snake") walk of the mesh keeps
consecutive layers -- the only pairs that exchange spikes -- next to each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .genome import Genome, SearchSpace, repair


def snake_order(coords: np.ndarray) -> np.ndarray:
    """Core ids along a boustrophedon walk: chip by chip, row by row, alternating direction.

    ``coords`` is ``(n_cores, 4)`` ``[chip, x, y, slot]``.
    """
    c = np.asarray(coords, dtype=np.int64)
    x = np.where(c[:, 2] % 2 == 0, c[:, 1], -c[:, 1])
    return np.lexsort((c[:, 3], x, c[:, 2], c[:, 0]))


def balanced_counts(space: SearchSpace, total: int) -> tuple[int, ...]:
    """Counts proportional to layer work, each within its bounds,
    summing to ``total`` where possible."""
    lo, hi = np.array(space.min_counts), np.array(space.max_counts)
    total = int(np.clip(total, lo.sum(), space.n_cores))
    work = np.maximum(np.asarray(space.layer_work, dtype=np.float64), 1e-12)
    pinned = np.zeros(lo.size, dtype=bool)
    for _ in range(lo.size + 1):  # layers whose share falls below their minimum are pinned there
        share = np.where(pinned, lo, work / work[~pinned].sum() * (total - lo[pinned].sum()))
        low = ~pinned & (share < lo)
        if not low.any():
            break
        pinned |= low
    counts = np.clip(np.floor(share).astype(np.int64), lo, hi)
    for k in np.argsort(-(share - counts), kind="stable"):  # largest remainders get the spare cores
        if counts.sum() >= total:
            break
        counts[k] = min(counts[k] + 1, hi[k])
    return tuple(int(c) for c in counts)


def contiguous_genome(space: SearchSpace, counts: Sequence[int], order: np.ndarray) -> Genome:
    """Layers as consecutive blocks along ``order`` (e.g. :func:`snake_order`)."""
    return repair(Genome(tuple(counts), tuple(int(c) for c in order)), space)


def interleaved_genome(space: SearchSpace, counts: Sequence[int], order: np.ndarray) -> Genome:
    """Consecutive layer pairs share one stretch of ``order``, their cores alternating.

    Layers ``2i`` and ``2i + 1`` are dealt onto their joint stretch in proportion to their counts,
    so every core of one sits next to cores of the other.
    """
    counts = [int(c) for c in counts]
    used = np.asarray(order[: sum(counts)])
    blocks: list[list[int]] = [[] for _ in counts]
    pos = 0
    for k in range(0, len(counts), 2):
        pair = counts[k : k + 2]
        stretch = used[pos : pos + sum(pair)]
        if len(pair) == 2:
            # fractional positions interleave the two layers evenly across the stretch
            keys = np.concatenate(
                [(np.arange(pair[0]) + 0.5) / pair[0], (np.arange(pair[1]) + 0.5) / pair[1]]
            )
            owner = np.concatenate([np.zeros(pair[0], int), np.ones(pair[1], int)])
            owner = owner[np.argsort(keys, kind="stable")]
            for j in (0, 1):
                blocks[k + j] = stretch[owner == j].tolist()
        else:
            blocks[k] = stretch.tolist()
        pos += sum(pair)
    perm = [c for b in blocks for c in b] + [int(c) for c in order[sum(counts) :]]
    return repair(Genome(tuple(counts), tuple(perm)), space)


def greedy_genome(
    space: SearchSpace, counts: Sequence[int], order: np.ndarray, traffic: np.ndarray
) -> Genome:
    """Every logical core placed by :func:`greedy_placement` (traffic x hops) over ``order``."""
    counts = tuple(int(c) for c in counts)
    place = greedy_placement(traffic, space.hops, np.asarray(order)[: sum(counts)])
    rest = np.asarray(order)[~np.isin(order, place)]
    return repair(Genome(counts, tuple(int(c) for c in np.concatenate([place, rest]))), space)


def seed_genomes(
    space: SearchSpace,
    order: np.ndarray,
    default: Genome | None = None,
    fractions: Sequence[float] = (0.3, 0.55, 0.8, 1.0),
    model_fractions: Sequence[float] = (0.5, 0.65, 0.8, 1.0),
    traffic: Callable[[tuple[int, ...]], np.ndarray] | None = None,
    greedy_fractions: Sequence[float] = (0.8, 1.0),
) -> list[Genome]:
    """The heuristic starting points: counts from the space's count model (when it has one) and
    work-balanced counts at several sizes, each laid out contiguously and interleaved; with
    ``traffic`` (counts -> logical-core message matrix) also the ``greedy_fractions`` sizes placed
    greedily by traffic x hops (the METIS+greedy baseline's construction with one part)."""
    out: list[Genome] = []
    if default is not None:
        out.append(contiguous_genome(space, default.counts, order))
    sets, greedy_sets = [], []
    if space.count_model is not None:
        sets += [space.count_model.allocate(round(f * space.n_cores)) for f in model_fractions]
        greedy_sets += [
            space.count_model.allocate(round(f * space.n_cores)) for f in greedy_fractions
        ]
    sets += [balanced_counts(space, round(f * space.n_cores)) for f in fractions]
    greedy_sets += [balanced_counts(space, round(f * space.n_cores)) for f in greedy_fractions]
    for counts in sets:
        out += [contiguous_genome(space, counts, order), interleaved_genome(space, counts, order)]
    if traffic is not None:
        for counts in dict.fromkeys(tuple(c) for c in greedy_sets):
            out.append(greedy_genome(space, counts, order, traffic(counts)))
    unique: dict[str, Genome] = {}
    for g in out:
        unique.setdefault(g.key(), g)
    return list(unique.values())


def greedy_placement(
    traffic: np.ndarray,
    hops: np.ndarray,
    candidates: np.ndarray,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Place logical cores one by one on the free candidate core minimising traffic x hop distance.

    Parameters
    ----------
    traffic : numpy.ndarray
        ``(n, n)`` messages between logical cores (symmetrised inside).
    hops : numpy.ndarray
        ``(n_cores, n_cores)`` hop distances.
    candidates : numpy.ndarray
        Physical cores allowed (at least ``n``), in preference order for ties.
    rng : numpy.random.Generator, optional
        Breaks ties randomly when given.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` physical core of every logical core.
    """
    t = np.asarray(traffic, dtype=np.float64)
    t = t + t.T
    n = t.shape[0]
    cand = np.asarray(candidates, dtype=np.int64)
    place = np.full(n, -1, dtype=np.int64)
    free = np.ones(cand.size, dtype=bool)
    volume = t.sum(axis=1)
    placed = np.zeros(n, dtype=bool)
    first = int(np.argmax(volume))
    centre = int(np.argmin(hops[np.ix_(cand, cand)].sum(axis=1)))
    place[first], free[centre], placed[first] = cand[centre], False, True
    for _ in range(n - 1):
        link = t[:, placed].sum(axis=1)  # next: the unplaced core most connected to what is placed
        link[placed] = -1.0
        i = int(np.argmax(link + 1e-12 * volume))
        fc = np.flatnonzero(free)
        cost = hops[np.ix_(cand[fc], place[placed])] @ t[i, placed]
        if rng is not None:
            cost = cost + 1e-9 * rng.random(cost.size)
        j = fc[int(np.argmin(cost))]
        place[i], free[j], placed[i] = cand[j], False, True
    return place
