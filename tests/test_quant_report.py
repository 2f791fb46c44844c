"""The per-layer quantisation report of ``tvm-loihi inspect`` (#15): weight step, shift, range use,
saturation and rounding-to-zero on the samples, bit-exact with the reference executor."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tvm_loihi.model import workloads
from tvm_loihi.model.quant_report import quantization_report
from tvm_loihi.model.quantize import FloatLayer, quantize_network

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _layers(rng):
    return [
        FloatLayer("a", rng.normal(0, 0.3, (32, 16)), rng.normal(0, 0.1, 32), True),
        FloatLayer("b", rng.normal(0, 0.3, (8, 32)), None, False),
    ]


def test_report_matches_the_reference_executor():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (50, 16))
    net = quantize_network(_layers(rng), calibration=x)
    rows = quantization_report(net, x)
    outs = net.run_integer(net.quantize_input(x))
    assert [r["name"] for r in rows] == ["(input)", "a", "b"]
    assert rows[0]["peak"] == int(np.abs(net.quantize_input(x)).max())
    for r, layer, y in zip(rows[1:], net.layers, outs):
        assert r["shift"] == layer.shift and r["weight_exponent"] == layer.weight_exponent
        assert r["peak"] == int(np.abs(y).max())
        assert r["range_use"] == pytest.approx(r["peak"] / r["target"])
        assert 0.0 <= r["saturated"] <= 1.0 and 0.0 <= r["rounded_to_zero"] <= 1.0
    # calibrated on these very samples: nothing exceeds the range, and a layer with a shift > 0 uses
    # at least about half of it (the shift is the smallest that fits; the bias moves it a little)
    assert all(0.0 < r["range_use"] <= 1.0 for r in rows)
    assert all(r["range_use"] > 0.45 for r in rows[1:] if r["shift"])
    assert all(r["saturated"] == 0.0 for r in rows)


def test_an_outlier_calibration_sample_shows_as_rounding_to_zero():
    rng = np.random.default_rng(1)
    layers = _layers(rng)
    x = rng.uniform(0, 1, (50, 16))
    normal = quantization_report(quantize_network(layers, calibration=x), x)
    spiked = x.copy()
    spiked[0] *= 1e4  # one sample 10^4 x larger sets the input scale and the shifts
    bad = quantization_report(quantize_network(layers, calibration=spiked), x)
    # the input scale is set by the outlier: most ordinary inputs quantise to 0
    assert bad[0]["rounded_to_zero"] > 0.5 > normal[0]["rounded_to_zero"]
    assert bad[0]["range_use"] < 0.01 < normal[0]["range_use"]


def test_report_refuses_samples_of_the_wrong_width():
    rng = np.random.default_rng(2)
    net = quantize_network(_layers(rng))
    with pytest.raises(ValueError, match=r"\(n_samples, 16\)"):
        quantization_report(net, np.zeros((4, 15)))


def test_inspect_prints_and_writes_the_quantisation_report(tmp_path):
    model = workloads.write_onnx("mlp_tiny", str(tmp_path / "m.onnx"))
    res = subprocess.run(
        [CLI, "inspect", model, "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "quantisation on 64 seeded sample inputs" in res.stdout
    assert "rounded to 0" in res.stdout
    (net,) = json.loads((tmp_path / "r.json").read_text())["networks"]
    assert [q["name"] for q in net["quantization"]] == ["(input)"] + [
        r["name"] for r in net["layers"]
    ]
    assert all(q["peak"] > 0 for q in net["quantization"])
