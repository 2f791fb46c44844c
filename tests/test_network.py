"""NetworkIR fixed-point semantics, quantisation, activity profiles and reference workloads."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_loihi.model import workloads
from tvm_loihi.model.activity import ActivityProfile, activity_from_float, activity_profile
from tvm_loihi.model.network import ACCUMULATOR_LIMIT, PAYLOAD_MAX, Layer, NetworkIR
from tvm_loihi.model.quantize import float_reference, quantize_network


def _random_network(rng: np.random.Generator, widths, relu_last=False) -> NetworkIR:
    layers = []
    for k, (a, b) in enumerate(pairwise(widths)):
        w = rng.integers(-128, 128, size=(b, a))
        w[rng.random(w.shape) < 0.6] = 0
        relu = relu_last or k < len(widths) - 2
        hi = int(rng.integers(1, 5000))
        layers.append(
            Layer(
                f"l{k}",
                sps.csr_matrix(w),
                int(rng.integers(0, 8)),
                rng.integers(-50, 50, size=b),
                relu,
                0 if relu else -hi,
                hi,
            )
        )
    return NetworkIR(tuple(layers), input_lo=-127, input_hi=127)


def _dense_semantics(net: NetworkIR, x: np.ndarray) -> list[np.ndarray]:
    outs, h = [], np.clip(x.astype(np.int64), net.input_lo, net.input_hi)
    for layer in net.layers:
        acc = h @ layer.weights.toarray().astype(np.int64).T
        y = np.floor_divide(acc, 2**layer.shift) + layer.bias  # arithmetic shift = floor
        if layer.relu:
            y = np.maximum(y, 0)
        h = np.clip(y, layer.lo, layer.hi)
        outs.append(h)
    return outs


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 4), batch=st.integers(1, 5))
def test_run_integer_is_the_documented_semantics(seed, depth, batch):
    rng = np.random.default_rng(seed)
    widths = tuple(int(w) for w in rng.integers(1, 12, size=depth + 1))
    net = _random_network(rng, widths)
    x = rng.integers(-300, 300, size=(batch, widths[0]))
    for got, want in zip(net.run_integer(x), _dense_semantics(net, x)):
        np.testing.assert_array_equal(got, want)


def test_layer_validation_names_the_layer():
    w = sps.csr_matrix(np.ones((3, 2)))
    with pytest.raises(ValueError, match="layer 'a': bias has 2 entries, layer has 3 neurons"):
        Layer("a", w, 0, np.zeros(2), True)
    with pytest.raises(ValueError, match="layer 'a': shift must be >= 0"):
        Layer("a", w, -1, np.zeros(3), True)
    with pytest.raises(ValueError, match="24-bit"):
        Layer("a", w, 0, np.zeros(3), True, 0, PAYLOAD_MAX + 1)
    a, b = Layer("a", w, 0, np.zeros(3), True), Layer("b", w, 0, np.zeros(3), True)
    with pytest.raises(ValueError, match="layer 'b' takes 2 inputs but layer 'a' produces 3"):
        NetworkIR((a, b))


def test_serialisation_round_trips_and_keys_follow_values():
    net = _random_network(np.random.default_rng(0), (5, 7, 3))
    copies = (
        NetworkIR.from_bytes(net.to_bytes()),
        NetworkIR.from_parts(net.meta_json(), net.arrays()),
    )
    for other in copies:
        assert other.workload_key() == net.workload_key()
        x = np.arange(10).reshape(2, 5)
        for p, q in zip(net.run_integer(x), other.run_integer(x)):
            np.testing.assert_array_equal(p, q)
    w = net.layers[0].weights.toarray()
    w.flat[np.flatnonzero(w)[0]] += 1
    changed = Layer(
        "l0",
        sps.csr_matrix(w),
        net.layers[0].shift,
        net.layers[0].bias,
        True,
        net.layers[0].lo,
        net.layers[0].hi,
    )
    assert NetworkIR((changed, net.layers[1])).workload_key() != net.workload_key()


def test_quantisation_keeps_sparsity_and_never_wraps_the_accumulator():
    fls = workloads.float_layers("mlp_tiny")
    net = quantize_network(fls)
    for fl, layer in zip(fls, net.layers):
        assert layer.nnz <= np.count_nonzero(fl.weight)
        assert np.all((layer.weights.toarray() != 0) <= (fl.weight != 0))
        assert np.abs(layer.weights.data).max() >= 64  # the exponent uses the 8-bit range
    for layer, nxt in zip(net.layers, net.layers[1:]):
        worst = 2 * np.abs(nxt.weights.toarray().astype(np.int64)).sum(axis=1).max() * layer.hi
        assert worst <= ACCUMULATOR_LIMIT


def test_calibration_fixes_scales_so_hidden_activations_use_8_bits():
    fls = workloads.float_layers("mlp_tiny")
    cal = workloads.sample_inputs("mlp_tiny", 64)
    net = quantize_network(fls, cal)
    assert net.input_scale == pytest.approx(float(cal.max()) / 255) and net.input_lo == 0
    outs = net.run_integer(net.quantize_input(cal))
    for layer, out in zip(net.layers[:-1], outs[:-1]):
        assert out.max() <= 255 and (layer.shift == 0 or out.max() >= 64)
    ref = float_reference(fls, cal)[-1]
    err = np.abs(net.run_float(cal)[0] - ref).max()
    assert err <= 0.08 * np.abs(ref).max()


def test_default_quantisation_without_calibration():
    net = quantize_network(workloads.float_layers("mlp_tiny"))
    assert net.input_scale == pytest.approx(1 / 127) and (net.input_lo, net.input_hi) == (-127, 127)


def test_activity_profile_marks_non_zero_outputs():
    net = _random_network(np.random.default_rng(3), (6, 8, 4))
    x = np.random.default_rng(4).integers(-5, 5, size=(7, 6))
    prof = activity_profile(net, x)
    outs = net.run_integer(x)
    np.testing.assert_array_equal(prof.spikes[0], x != 0)
    for k, out in enumerate(outs):
        np.testing.assert_array_equal(prof.spikes[k + 1], out != 0)
    want = [
        sum(
            int(np.count_nonzero(layer.weights.toarray()[:, j])) * int(prof.spikes[k][:, j].sum())
            for j in range(layer.n_in)
        )
        for k, layer in enumerate(net.layers)
    ]
    np.testing.assert_array_equal(prof.synaptic_ops(net), want)
    prof.check_matches(net)
    with pytest.raises(ValueError, match="activity profile has populations"):
        ActivityProfile(prof.spikes[:2]).check_matches(net)
    quantised = activity_from_float(net, x.astype(np.float32) * net.input_scale)
    np.testing.assert_array_equal(quantised.spikes[1], prof.spikes[1])


def test_workloads_are_deterministic_and_match_their_float_layers():
    from onnx.reference import ReferenceEvaluator

    a = workloads.make_onnx("mlp_tiny", seed=3, spelling="gemm").SerializeToString()
    assert a == workloads.make_onnx("mlp_tiny", seed=3, spelling="gemm").SerializeToString()
    fls = workloads.float_layers("mlp_tiny", seed=3)
    spec = workloads.get_workload("mlp_tiny")
    for fl in fls:
        assert np.mean(fl.weight == 0) == pytest.approx(spec.sparsity, abs=0.01)
    x = workloads.sample_inputs("mlp_tiny", 4)
    assert x.min() >= 0 and 0.3 < np.mean(x == 0) < 0.7
    ref = float_reference(fls, x)[-1]
    for spelling in ("gemm", "matmul", "mixed"):
        model = workloads.make_onnx("mlp_tiny", seed=3, batch=4, spelling=spelling)
        (y,) = ReferenceEvaluator(model).run(None, {"x": x})
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(KeyError, match="unknown workload 'mlp_z'"):
        workloads.get_workload("mlp_z")
