"""Mapping: construction, JSON, validation against an independent dense oracle, the Lava default."""

from __future__ import annotations

import numpy as np
import pytest
from _sim_workloads import network
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import Mapping, MappingError, lava_default_mapping, min_cores_per_layer
from tvm_loihi.model.workloads import WORKLOADS


def _oracle_violations(net, mapping, hw):
    """Per-core usage recomputed from dense weight blocks, one slice at a time (slow and
    obvious)."""
    lim = hw.limits
    found = []
    for k, layer in enumerate(net.layers):
        w = layer.weights.toarray() != 0
        b = mapping.bounds[k]
        for j in range(len(b) - 1):
            block = w[b[j] : b[j + 1]]  # (neurons on core, n_in)
            nnz_per_axon = block.sum(axis=0)
            n = b[j + 1] - b[j]
            dense = layer.n_in * -(-(n + lim.dense_extra_synapses) // lim.dense_synapses_per_word)
            sparse = int((-(-nnz_per_axon // lim.sparse_synapses_per_word)).sum())
            if k + 1 < len(net.layers):
                wn = net.layers[k + 1].weights.toarray() != 0
                bn = mapping.bounds[k + 1]
                dst = np.stack(
                    [wn[bn[i] : bn[i + 1], b[j] : b[j + 1]].any(axis=0) for i in range(len(bn) - 1)]
                )
                out_axons = int(dst.sum())
            else:
                out_axons = n
            usage = {
                "max_neurons": n,
                "synmem_words": min(dense, sparse),
                "max_input_axons": int((nnz_per_axon > 0).sum()),
                "max_output_axons": out_axons,
            }
            found += [(k, j, name) for name, v in usage.items() if v > getattr(lim, name)]
    return found


def test_from_assignment_even_split_and_json():
    net = network("mlp_tiny")
    m = Mapping.from_assignment(net, (3, 2, 1), [7, 0, 5, 9, 2, 100])
    assert m.cores_per_layer == (3, 2, 1) and m.layer_sizes == (96, 96, 10)
    assert m.bounds[0].tolist() == [0, 32, 64, 96]
    assert m.layer_core_ids(1).tolist() == [9, 2]
    back = Mapping.from_json(m.to_json())
    assert back.to_json() == m.to_json()
    with pytest.raises(MappingError, match="more than one slice"):
        Mapping.from_assignment(net, (1, 1, 1), [3, 3, 4])
    with pytest.raises(MappingError, match="layer 2"):
        Mapping.from_assignment(net, (1, 1, 11), range(20))


def test_tiny_limits_error_names_layer_core_limit_excess():
    net = network("mlp_tiny")
    hw = get_preset("loihi2_1chip").replace_constant("limits.synmem_words", 100)
    m = Mapping.from_assignment(net, (1, 1, 1), [4, 5, 6])
    with pytest.raises(
        MappingError, match=r"layer 0 .* core 4: synmem_words \d+ > 100 \(over by \d+\)"
    ):
        m.validate(net, hw)
    with pytest.raises(MappingError, match="does not exist"):
        Mapping.from_assignment(net, (1, 1, 1), [0, 1, 128]).validate(
            net, get_preset("loihi2_1chip")
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cores=st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 10)),
    synmem=st.integers(200, 3000),
    axons_in=st.integers(20, 64),
    axons_out=st.integers(20, 400),
    neurons=st.integers(8, 96),
)
def test_validate_agrees_with_dense_oracle(cores, synmem, axons_in, axons_out, neurons):
    net = network("mlp_tiny")
    hw = get_preset("loihi2_1chip")
    for name, v in (
        ("synmem_words", synmem),
        ("max_input_axons", axons_in),
        ("max_output_axons", axons_out),
        ("max_neurons", neurons),
    ):
        hw = hw.replace_constant(f"limits.{name}", v)
    m = Mapping.from_assignment(net, cores, np.arange(sum(cores))[::-1])
    bad = _oracle_violations(net, m, hw)
    if bad:
        with pytest.raises(MappingError):
            m.validate(net, hw)
    else:
        m.validate(net, hw)


def test_min_cores_is_minimal_on_tiny():
    net = network("mlp_tiny")
    hw = get_preset("loihi2_1chip").replace_constant("limits.synmem_words", 300)
    cores = min_cores_per_layer(net, hw)
    m = Mapping.from_assignment(net, cores, range(sum(cores)))
    assert not _oracle_violations(net, m, hw)
    for k in range(3):
        if cores[k] > 1:
            fewer = list(cores)
            fewer[k] -= 1
            worse = Mapping.from_assignment(net, fewer, range(sum(fewer)))
            assert any(v[0] == k for v in _oracle_violations(net, worse, hw))


@pytest.mark.parametrize("name", ["mlp_tiny", "mlp_a", "mlp_b", "mlp_b2", "mlp_k"])
def test_lava_default_valid_and_sized_per_workloads_md(name):
    net = network(name)
    hw = get_preset(WORKLOADS[name].hardware)
    m = lava_default_mapping(net, hw)
    m.validate(net, hw)
    assert m.core_ids.tolist() == list(range(m.n_cores_used))
    if name in ("mlp_a", "mlp_b", "mlp_b2"):
        assert 0.25 * hw.n_cores <= m.n_cores_used <= 0.90 * hw.n_cores, m.cores_per_layer
    if name == "mlp_k":
        chips = -(-m.n_cores_used // hw.cores_per_chip)
        assert 5 <= chips <= 8, m.cores_per_layer
    for k in range(net.depth):  # one fewer core on any layer breaks a limit
        c = m.cores_per_layer[k]
        if c > 1:
            fewer = list(m.cores_per_layer)
            fewer[k] -= 1
            with pytest.raises(MappingError):
                Mapping.from_assignment(net, fewer, range(sum(fewer))).validate(net, hw)


def test_tile4_variant_maps():
    net = network("mlp_a")
    hw = get_preset("loihi2_1chip_tile4")
    lava_default_mapping(net, hw).validate(net, hw)


def test_validation_cached_per_partition_names_this_mappings_core():
    net = network("mlp_tiny")
    hw = get_preset("loihi2_1chip").replace_constant("limits.synmem_words", 100)
    for ids in ([4, 5, 6], [9, 5, 6]):  # same partition, the second check hits the cache
        with pytest.raises(MappingError, match=rf"core {ids[0]}: synmem_words"):
            Mapping.from_assignment(net, (1, 1, 1), ids).validate(net, hw)
    Mapping.from_assignment(net, (1, 1, 1), [4, 5, 6]).validate(net, get_preset("loihi2_1chip"))
