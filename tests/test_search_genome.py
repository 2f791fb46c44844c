"""Genome, reorder, repair and operators: properties on random spaces
(hypothesis) and on a real network."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_loihi.search import operators as op
from tvm_loihi.search.genome import Genome, SearchSpace, is_feasible, reorder, repair, with_counts
from tvm_loihi.search.heuristics import balanced_counts, interleaved_genome, snake_order


def _mesh_hops(w: int, h: int) -> np.ndarray:
    xy = np.array([(i % w, i // w) for i in range(w * h)])
    return np.abs(xy[:, None, :] - xy[None, :, :]).sum(-1).astype(float)


@st.composite
def spaces(draw, with_check: bool = False):
    w, h = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    n = w * h
    n_layers = draw(st.integers(1, min(5, n)))
    lo = [draw(st.integers(1, 2)) for _ in range(n_layers)]
    while sum(lo) > n:
        lo[lo.index(max(lo))] -= 1
    hi = [draw(st.integers(x, n)) for x in lo]
    check = None
    if with_check and n_layers >= 2 and sum(lo) + 1 <= n:
        # a cross-layer limit like output axons: layer 0 needs at least half of layer 1's cores
        def check(counts):
            return 0 if counts[0] * 2 < counts[1] else None

    return SearchSpace(n, tuple(lo), tuple(hi), _mesh_hops(w, h), check_counts=check)


@st.composite
def space_and_genome(draw, with_check: bool = False):
    space = draw(spaces(with_check))
    counts = draw(
        st.lists(st.integers(-3, space.n_cores + 3), min_size=0, max_size=space.n_layers + 2)
    )
    perm = draw(st.lists(st.integers(-2, space.n_cores + 2), max_size=space.n_cores + 4))
    return space, Genome(tuple(counts), tuple(perm))


@settings(max_examples=150, deadline=None)
@given(space_and_genome(with_check=True))
def test_repair_makes_any_genome_feasible_and_is_idempotent(sg):
    space, g = sg
    try:
        r = repair(g, space)
    except ValueError as err:  # only when no counts can satisfy the check at all
        assert "no feasible counts" in str(err) or "rejected" in str(err)
        return
    assert is_feasible(r, space)
    assert repair(r, space) == r


@settings(max_examples=100, deadline=None)
@given(spaces(), st.integers(0, 2**31 - 1), st.data())
def test_reorder_keeps_cores_of_layers_whose_count_is_unchanged(space, seed, data):
    rng = np.random.default_rng(seed)
    g = op.random_genome(space, rng)
    new = list(g.counts)
    k = data.draw(st.integers(0, space.n_layers - 1))
    new[k] = data.draw(st.integers(space.min_counts[k], space.max_counts[k]))
    if sum(new) > space.n_cores:
        return
    perm = reorder(g.perm, g.counts, new, space.hops)
    assert sorted(perm) == list(range(space.n_cores))
    moved = Genome(tuple(new), perm)
    for j, (old_block, new_block) in enumerate(zip(g.blocks(), moved.blocks())):
        keep = min(len(old_block), len(new_block))
        assert new_block[:keep] == old_block[:keep]  # a layer keeps its cores where it can
        if j != k:
            assert new_block == old_block
    assert reorder(perm, new, new, space.hops) == perm  # idempotent for unchanged counts


def test_reorder_grows_a_layer_into_the_nearest_free_cores():
    hops = _mesh_hops(4, 4)
    space = SearchSpace(16, (1, 1), (8, 8), hops)
    g = Genome((1, 1), (0, 15, *range(1, 15)))  # layer 0 on corner 0, layer 1 on corner 15
    grown = with_counts(g, (3, 1), space)
    # the two neighbours of 0
    assert grown.blocks()[0][0] == 0 and set(grown.blocks()[0][1:]) == {1, 4}
    assert grown.blocks()[1] == (15,)


@settings(max_examples=60, deadline=None)
@given(spaces(with_check=True), st.integers(0, 2**31 - 1))
def test_every_operator_keeps_genomes_feasible(space, seed):
    rng = np.random.default_rng(seed)
    try:
        a, b = op.random_genome(space, rng), op.random_genome(space, rng)
    except ValueError:
        return
    moves = [*op.PLACEMENT_MOVES, *op.COUNT_MOVES]
    for move in moves:
        assert is_feasible(move(a, space, rng), space), move.__name__
    for kind in ("ox", "pmx"):
        assert is_feasible(op.crossover(a, b, space, rng, kind), space), kind
    assert is_feasible(op.mutate(a, space, rng, n_moves=3), space)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**31 - 1))
def test_permutation_crossovers_return_permutations(n, seed):
    rng = np.random.default_rng(seed)
    p1, p2 = rng.permutation(n), rng.permutation(n)
    for fn in (op.order_crossover, op.pmx_crossover):
        child = fn(p1, p2, rng, int(rng.integers(1, n + 1)))
        assert sorted(child.tolist()) == list(range(n))


def test_placement_moves_keep_counts_and_count_moves_keep_unchanged_layers():
    space = SearchSpace(16, (1, 1, 1), (8, 8, 8), _mesh_hops(4, 4))
    rng = np.random.default_rng(3)
    g = repair(Genome((3, 4, 2), tuple(range(16))), space)
    for move in op.PLACEMENT_MOVES:
        assert move(g, space, rng).counts == g.counts
    g2 = op.change_count(g, space, rng, max_step=2)
    changed = [k for k in range(3) if g2.counts[k] != g.counts[k]]
    for k in set(range(3)) - set(changed):
        assert g2.blocks()[k] == g.blocks()[k]


def test_move_block_gathers_a_layer_around_an_anchor():
    space = SearchSpace(16, (1, 1), (8, 8), _mesh_hops(4, 4))
    head = (0, 5, 10, 15, 3, 12)
    g = Genome((4, 2), (*head, *[c for c in range(16) if c not in head]))
    rng = np.random.default_rng(0)
    spreads = []
    for _ in range(20):
        m = op.move_block(g, space, rng)
        assert is_feasible(m, space)
        for block in m.blocks():
            spreads.append(space.hops[np.ix_(block, block)].max())
    assert min(spreads) <= 2  # a 4-core block lands on a compact 2x2-ish region


def test_genome_json_round_trip_and_key_ignores_free_pool():
    g = Genome((2, 1), (4, 0, 2, 1, 3))
    assert Genome.from_json(g.to_json()) == g
    assert g.key() == Genome((2, 1), (4, 0, 2, 3, 1)).key()
    assert g.key() != Genome((2, 1), (0, 4, 2, 3, 1)).key()


def test_space_validation_names_the_shortfall():
    with pytest.raises(ValueError, match="too many"):
        SearchSpace(4, (3, 2), (4, 4), _mesh_hops(2, 2))
    with pytest.raises(ValueError, match="layer 1"):
        SearchSpace(4, (1, 3), (4, 2), _mesh_hops(2, 2))


def test_heuristic_layouts_are_feasible_and_balanced():
    space = SearchSpace(16, (1, 1, 1), (16, 16, 16), _mesh_hops(4, 4), layer_work=(1.0, 2.0, 1.0))
    assert balanced_counts(space, 16) == (4, 8, 4)
    coords = np.array([[0, i % 4, i // 4, 0] for i in range(16)])
    order = snake_order(coords)
    assert order[:8].tolist() == [0, 1, 2, 3, 7, 6, 5, 4]
    g = interleaved_genome(space, (4, 8, 4), order)
    assert is_feasible(g, space) and g.counts == (4, 8, 4)
