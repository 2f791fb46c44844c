"""Variation operators on :class:`~tvm_loihi.search.genome.Genome`
(pure; explicit ``np.random.Generator``).

Every operator returns a feasible genome (it repairs what it produces). Placement moves exploit the
mesh: a layer's block can move as a unit to a compact region, cores can be exchanged between
consecutive layers (the pairs that talk), and count changes keep every layer where it was
(:func:`~tvm_loihi.search.genome.reorder`).
"""

from __future__ import annotations

import numpy as np

from .genome import Genome, SearchSpace, repair, with_counts


def random_genome(space: SearchSpace, rng: np.random.Generator) -> Genome:
    """Uniform random placement;
    counts drawn between the minimum and a random share of the free cores."""
    lo, hi = np.array(space.min_counts), np.array(space.max_counts)
    spare = space.n_cores - lo.sum()
    share = rng.dirichlet(np.ones(space.n_layers)) * spare * rng.random()
    counts = np.minimum(lo + np.floor(share).astype(np.int64), hi)
    return repair(Genome(tuple(counts), tuple(rng.permutation(space.n_cores))), space)


def _used_pair(g: Genome, rng: np.random.Generator, n_cores: int) -> tuple[int, int]:
    i = int(rng.integers(g.n_used))
    j = int(rng.integers(n_cores - 1))
    return i, j + (j >= i)


def swap_cores(g: Genome, space: SearchSpace, rng: np.random.Generator) -> Genome:
    """Exchange a used core with any other core (another layer's slice or a free core)."""
    i, j = _used_pair(g, rng, space.n_cores)
    p = list(g.perm)
    p[i], p[j] = p[j], p[i]
    return Genome(g.counts, tuple(p))


def swap_adjacent_layers(g: Genome, space: SearchSpace, rng: np.random.Generator) -> Genome:
    """Exchange one core of layer ``k`` with one of layer ``k + 1``
    (the layers that exchange spikes)."""
    if space.n_layers < 2:
        return swap_cores(g, space, rng)
    k = int(rng.integers(space.n_layers - 1))
    start = int(np.sum(g.counts[:k]))
    i = start + int(rng.integers(g.counts[k]))
    j = start + g.counts[k] + int(rng.integers(g.counts[k + 1]))
    p = list(g.perm)
    p[i], p[j] = p[j], p[i]
    return Genome(g.counts, tuple(p))


def move_block(g: Genome, space: SearchSpace, rng: np.random.Generator) -> Genome:
    """Move one layer's block onto the cores nearest a random anchor;
    displaced cores take its old spots."""
    k = int(rng.integers(space.n_layers))
    perm = np.asarray(g.perm)
    start = int(np.sum(g.counts[:k]))
    block = perm[start : start + g.counts[k]]
    anchor = int(rng.integers(space.n_cores))
    order = np.argsort(space.hops[anchor] + 1e-6 * rng.random(space.n_cores), kind="stable")
    target = order[: g.counts[k]]
    pos = np.empty(space.n_cores, dtype=np.int64)
    pos[perm] = np.arange(space.n_cores)
    new = perm.copy()
    incoming = target[~np.isin(target, block)]
    outgoing = block[~np.isin(block, target)]
    new[pos[incoming]] = outgoing  # the displaced cores move into the block's old places
    new[start : start + g.counts[k]] = np.concatenate([block[np.isin(block, target)], incoming])
    return Genome(g.counts, tuple(int(c) for c in new))


def scramble_block(g: Genome, space: SearchSpace, rng: np.random.Generator) -> Genome:
    """Shuffle which of a layer's neuron slices sits on which of its cores."""
    k = int(rng.integers(space.n_layers))
    start = int(np.sum(g.counts[:k]))
    p = np.asarray(g.perm).copy()
    p[start : start + g.counts[k]] = rng.permutation(p[start : start + g.counts[k]])
    return Genome(g.counts, tuple(int(c) for c in p))


def change_count(
    g: Genome, space: SearchSpace, rng: np.random.Generator, max_step: int = 4
) -> Genome:
    """Grow or shrink one layer by ``1..max_step`` cores, keeping placement local."""
    k = int(rng.integers(space.n_layers))
    step = int(rng.integers(1, max(1, max_step) + 1)) * (1 if rng.random() < 0.5 else -1)
    counts = list(g.counts)
    counts[k] = int(np.clip(counts[k] + step, space.min_counts[k], space.max_counts[k]))
    return with_counts(g, counts, space)


def transfer_cores(
    g: Genome, space: SearchSpace, rng: np.random.Generator, max_step: int = 4
) -> Genome:
    """Move ``1..max_step`` cores from one layer to another
    (total unchanged where the limits allow)."""
    if space.n_layers < 2:
        return change_count(g, space, rng, max_step)
    a, b = (int(x) for x in rng.choice(space.n_layers, size=2, replace=False))
    step = int(rng.integers(1, max(1, max_step) + 1))
    step = min(step, g.counts[a] - space.min_counts[a], space.max_counts[b] - g.counts[b])
    if step <= 0:
        return change_count(g, space, rng, max_step)
    counts = list(g.counts)
    counts[a] -= step
    counts[b] += step
    return with_counts(g, counts, space)


def rebalance_counts(
    g: Genome, space: SearchSpace, rng: np.random.Generator, max_step: int = 4
) -> Genome:
    """Move ``1..max_step`` cores towards the bottleneck layer by the space's count model (the
    transfer that lowers the model latency most, one core at a time); a random transfer without a
    model or when the model sees no gain."""
    model = space.count_model
    if model is None:
        return transfer_cores(g, space, rng, max_step)
    counts = model.rebalance(g.counts, int(rng.integers(1, max(1, max_step) + 1)))
    if tuple(counts) == g.counts:
        return transfer_cores(g, space, rng, max_step)
    return with_counts(g, counts, space)


def reallocate_counts(
    g: Genome, space: SearchSpace, rng: np.random.Generator, max_step: int = 4
) -> Genome:
    """Counts the space's count model allocates to a total ``0..max_step`` cores above or below the
    genome's, placement carried over by the locality-preserving reorder
    (a random change without a model)."""
    model = space.count_model
    if model is None:
        return change_count(g, space, rng, max_step)
    total = g.n_used + int(rng.integers(-max(1, max_step), max(1, max_step) + 1))
    return with_counts(g, model.allocate(int(np.clip(total, 1, space.n_cores))), space)


PLACEMENT_MOVES = (swap_cores, swap_adjacent_layers, move_block, scramble_block)
COUNT_MOVES = (change_count, transfer_cores, rebalance_counts)


def _changed(g: Genome, make, tries: int = 8) -> Genome:
    # Some moves are no-ops (a clipped count, a one-core block shuffled): draw again, a few times.
    for _ in range(tries):
        child = make()
        if child.key() != g.key():
            return child
    return child


def mutate_placement(
    g: Genome, space: SearchSpace, rng: np.random.Generator, n_moves: int = 1
) -> Genome:
    """Apply ``n_moves`` random placement moves (counts unchanged; redrawn if nothing changed)."""

    def make() -> Genome:
        h = g
        for _ in range(max(1, n_moves)):
            h = PLACEMENT_MOVES[int(rng.integers(len(PLACEMENT_MOVES)))](h, space, rng)
        return h

    return _changed(g, make)


def mutate_counts(
    g: Genome, space: SearchSpace, rng: np.random.Generator, max_step: int = 4
) -> Genome:
    """Apply one random count move (locality-preserving; redrawn if nothing changed)."""
    return _changed(
        g, lambda: COUNT_MOVES[int(rng.integers(len(COUNT_MOVES)))](g, space, rng, max_step)
    )


def mutate(
    g: Genome,
    space: SearchSpace,
    rng: np.random.Generator,
    p_counts: float = 0.4,
    max_step: int = 4,
    n_moves: int = 1,
) -> Genome:
    """Joint mutation: a count move with probability ``p_counts``, else placement moves."""
    if rng.random() < p_counts:
        return mutate_counts(g, space, rng, max_step)
    return mutate_placement(g, space, rng, n_moves)


def _cut(rng: np.random.Generator, limit: int) -> tuple[int, int]:
    a, b = sorted(int(x) for x in rng.integers(0, max(1, limit) + 1, size=2))
    return a, max(b, a + 1)


def order_crossover(
    p1: np.ndarray, p2: np.ndarray, rng: np.random.Generator, limit: int
) -> np.ndarray:
    """OX: keep ``p1[a:b]`` in place, fill the rest in ``p2``'s order
    (cuts within the used prefix)."""
    a, b = _cut(rng, limit)
    seg = p1[a:b]
    rest = p2[~np.isin(p2, seg)]
    return np.concatenate([rest[:a], seg, rest[a:]])


def pmx_crossover(
    p1: np.ndarray, p2: np.ndarray, rng: np.random.Generator, limit: int
) -> np.ndarray:
    """PMX: ``p1[a:b]`` in place;
    ``p2`` elsewhere, conflicts resolved through the segment's mapping."""
    a, b = _cut(rng, limit)
    child = p2.copy()
    child[a:b] = p1[a:b]
    mapping = dict(zip(p1[a:b].tolist(), p2[a:b].tolist()))
    for i in (*range(a), *range(b, p1.size)):
        v = int(child[i])
        while v in mapping:
            v = mapping[v]
        child[i] = v
    return child


def crossover(
    g1: Genome, g2: Genome, space: SearchSpace, rng: np.random.Generator, kind: str = "ox"
) -> Genome:
    """Child with per-layer counts from either parent
    and a permutation crossover of the placements."""
    take = rng.random(space.n_layers) < 0.5
    counts = np.where(take, g1.counts, g2.counts)
    p1, p2 = np.asarray(g1.perm), np.asarray(g2.perm)
    fn = order_crossover if kind == "ox" else pmx_crossover
    perm = fn(p1, p2, rng, max(g1.n_used, g2.n_used))
    return with_counts(repair(Genome(g1.counts, tuple(perm)), space), counts, space)
