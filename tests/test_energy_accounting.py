"""Energy per inference both ways (#13 item 2): static power of the used chips only (Lava's
convention) and of every chip of the board; the backend's counter, the ``--json`` summary fields and
the table's note where the two changes vs the Lava default have opposite signs."""

from __future__ import annotations

import pytest

from tvm_loihi.measure.backend import measure
from tvm_loihi.model.activity import activity_from_float
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs
from tvm_loihi.report.summary import change_of, energy_sign_differs, metrics_of
from tvm_loihi.report.table import format_comparison
from tvm_loihi.sim import evaluate


def _tiny(hardware: str):
    spec = WORKLOADS["mlp_tiny"]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name="mlp_tiny")
    return net, get_preset(hardware), activity_from_float(net, sample_inputs(spec))


@pytest.mark.parametrize("hardware", ["loihi2_1chip", "loihi2_2chip"])
def test_backend_copies_board_energy(hardware):
    """On two chips the Lava default of mlp_tiny uses one: the board figure adds the idle chip's
    static power; on one chip the two figures are the same."""
    net, hw, act = _tiny(hardware)
    mapping = lava_default_mapping(net, hw)
    res = measure(net, hw, act, mapping.to_json())
    m = evaluate(net, mapping, hw, act)
    assert res.ok and res.counters["chips_used"] == 1
    board = res.counters["energy_per_inference_board_j"]
    assert board == pytest.approx(m.energy_per_inference_board_j)
    metrics = metrics_of(res)
    assert metrics["energy_per_inference_j"] == pytest.approx(m.energy_per_inference_j)
    assert metrics["energy_per_inference_board_j"] == board
    if hw.n_chips == 1:
        assert board == pytest.approx(res.energy_j)
    else:
        idle_static = hw.energy.static_w_per_chip * m.total_latency_s / m.n_samples
        assert board == pytest.approx(res.energy_j + idle_static)


def _metrics(latency, chip_j, board_j, chips):
    return {
        "total_latency_s": latency,
        "per_sample_latency_s": latency / 8,
        "energy_per_inference_j": chip_j,
        "energy_per_inference_board_j": board_j,
        "cores_used": 10 * chips,
        "chips_used": chips,
    }


def test_table_says_when_the_energy_sign_differs():
    # spreading onto the second chip: per used chip energy rises (+20 %), per board it falls (-10 %)
    default, best = _metrics(2e-3, 1e-6, 2e-6, 1), _metrics(1e-3, 1.2e-6, 1.8e-6, 2)
    change = change_of(default, best)
    assert change["energy_per_inference_j"] == pytest.approx(0.2)
    assert change["energy_per_inference_board_j"] == pytest.approx(-0.1)
    assert energy_sign_differs(change) is True
    text = format_comparison("t", default, best, None, 8)
    assert "energy per inference (static: used chips)" in text
    assert "energy per inference (static: whole board)" in text
    assert "opposite signs" in text and "+20.0 %" in text and "-10.0 %" in text
    # same sign both ways: no note
    same = _metrics(1e-3, 0.9e-6, 1.8e-6, 2)
    assert energy_sign_differs(change_of(default, same)) is False
    assert "opposite signs" not in format_comparison("t", default, same, None, 8)
    # a result without the board counter (older log records): null, shown as "-", no note
    old = {**best, "energy_per_inference_board_j": None}
    assert change_of(default, old)["energy_per_inference_board_j"] is None
    assert energy_sign_differs(change_of(default, old)) is None
    text = format_comparison("t", default, old, None, 8)
    assert "opposite signs" not in text
    row = next(ln for ln in text.splitlines() if "whole board" in ln)
    assert row.split()[-1] == "-"
