"""Report output on a real tuning run (mlp_tiny, in-process simulator): the PNG figures exist, have
the size their figsize promises, are not blank and show each layer's colour; link loads, the
progress bar and the comparison table are checked against direct computations."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib import image as mpimg

from tvm_loihi.model import workloads
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.report import ProgressBar, format_comparison
from tvm_loihi.report._mpl import DPI, layer_colours
from tvm_loihi.report.figures import (
    CONVERGENCE_SIZE,
    PARETO_SIZE,
    UTILISATION_SIZE,
    plot_convergence,
    plot_pareto,
    plot_utilisation,
)
from tvm_loihi.report.placement import edge_loads, placement_size, plot_placement
from tvm_loihi.report.summary import metrics_of
from tvm_loihi.sim import evaluate, lower_bound
from tvm_loihi.tuning import default_activity, tune


@pytest.fixture(scope="module")
def run():
    net = quantize_network(
        workloads.float_layers("mlp_tiny"), workloads.sample_inputs("mlp_tiny", 32)
    )
    hw = get_preset("loihi2_1chip")
    res = tune(net, hw, strategy="ga", budget=24, seed=1, objectives=("latency", "energy"))
    act = default_activity(net, hw)
    panels = [
        (label, m, evaluate(net, m, hw, act))
        for label, m in (("Lava default", res.default_mapping), ("best found", res.best_mapping))
    ]
    return {
        "net": net,
        "hw": hw,
        "res": res,
        "act": act,
        "panels": panels,
        "names": [layer.name for layer in net.layers],
    }


def _check_png(path, size_in) -> np.ndarray:
    img = mpimg.imread(path)
    assert img.shape[:2] == (round(size_in[1] * DPI), round(size_in[0] * DPI))
    rgb = img[..., :3]
    assert rgb.std() > 0.05  # not blank
    assert (rgb.min(axis=2) < 0.5).mean() > 0.005  # some dark ink: text, axes, data
    return rgb


def _has_colour(rgb: np.ndarray, colour, tol: float = 0.02) -> bool:
    return bool((np.abs(rgb - np.asarray(colour[:3])).max(axis=2) < tol).any())


def test_convergence_figure(run, tmp_path):
    res = run["res"]
    lb = lower_bound(run["net"], run["hw"], run["act"])
    path = plot_convergence(
        [("ga", res.history), ("ga again", res.history[:10])],
        str(tmp_path / "c.png"),
        default_s=res.default_result.latency_s,
        lower_bound_s=lb,
    )
    rgb = _check_png(path, CONVERGENCE_SIZE)
    assert _has_colour(rgb, (0.122, 0.467, 0.706)) and _has_colour(rgb, (1.0, 0.498, 0.055))


def test_placement_figure_shows_every_layer_and_link_heat(run, tmp_path):
    path = plot_placement(run["hw"], run["panels"], run["names"], str(tmp_path / "p.png"))
    rgb = _check_png(path, placement_size(run["hw"], 2))
    for colour in layer_colours(len(run["names"])):
        assert _has_colour(rgb, colour)


def test_placement_on_two_chips_outlines_both(tmp_path):
    net = quantize_network(
        workloads.float_layers("mlp_tiny"), workloads.sample_inputs("mlp_tiny", 8)
    )
    hw = get_preset("loihi2_2chip")
    act = default_activity(net, hw, n_samples=8)
    spread = Mapping.from_assignment(net, (2, 2, 1), [0, 130, 5, 250, 127])  # both chips
    panels = [
        (label, m, evaluate(net, m, hw, act))
        for label, m in (("default", lava_default_mapping(net, hw)), ("spread", spread))
    ]
    assert panels[1][2].chips_used == 2
    path = plot_placement(
        hw, panels, [layer.name for layer in net.layers], str(tmp_path / "p2.png")
    )
    _check_png(path, placement_size(hw, 2))


def test_edge_loads_sum_both_directions():
    rng = np.random.default_rng(0)
    links = rng.integers(0, 9, size=(4, 3, 5)).astype(float)
    segments, load = edge_loads(links)
    expected = {}
    for y in range(3):
        for x in range(5):
            if x + 1 < 5:
                expected[((x, y), (x + 1, y))] = links[0, y, x] + links[1, y, x + 1]
            if y + 1 < 3:
                expected[((x, y), (x, y + 1))] = links[2, y, x] + links[3, y + 1, x]
    got = {(tuple(map(int, s[0])), tuple(map(int, s[1]))): v for s, v in zip(segments, load)}
    assert got == expected


def test_utilisation_figure(run, tmp_path):
    path = plot_utilisation(run["panels"], run["names"], str(tmp_path / "u.png"))
    rgb = _check_png(path, UTILISATION_SIZE)
    for colour in layer_colours(len(run["names"])):
        assert _has_colour(rgb, colour)


def test_pareto_figure(run, tmp_path):
    res = run["res"]
    assert len(res.pareto) >= 1
    front = [(r.latency_s, r.energy_j) for _, r in res.pareto]
    path = plot_pareto(
        front,
        str(tmp_path / "f.png"),
        measured=[*front, (front[0][0] * 1.2, front[0][1] * 1.2)],
        default=(res.default_result.latency_s, res.default_result.energy_j),
        best=(res.best_result.latency_s, res.best_result.energy_j),
    )
    rgb = _check_png(path, PARETO_SIZE)
    assert _has_colour(rgb, (0.839, 0.153, 0.157))  # the front in tab:red


def test_comparison_table_numbers(run):
    res = run["res"]
    lb = lower_bound(run["net"], run["hw"], run["act"])
    default, best = metrics_of(res.default_result), metrics_of(res.best_result)
    text = format_comparison("t", default, best, lb, run["act"].n_samples)
    change = (best["total_latency_s"] / default["total_latency_s"] - 1) * 100
    assert f"{change:+.1f} %" in text
    assert (
        f"{default['total_latency_s'] / lb:.2f}x" in text
        and f"{best['total_latency_s'] / lb:.2f}x" in text
    )
    assert f"total latency ({run['act'].n_samples} samples)" in text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_terminal_and_plain():
    infos = [
        {
            "evaluations": i,
            "budget": 20,
            "best": 1e-3 / i,
            "cache_hits": 0,
            "elapsed_s": i / 4,
            "evals_per_s": 4.0,
        }
        for i in range(1, 21)
    ]
    tty = _Tty()
    bar = ProgressBar("net ga", stream=tty, refresh_s=0.0)
    for info in infos:
        bar(info)
    bar.close("(budget)")
    text = tty.getvalue()
    assert text.count("\r") == 21 and text.endswith("(budget)\n") and text.count("\n") == 1
    assert "20/20" in text and "best 50.00 us" in text and "4.0 eval/s" in text
    assert "ETA 0:04" in ProgressBar("x").render(infos[3])  # 16 left at 4 eval/s
    plain = io.StringIO()
    bar = ProgressBar("net ga", stream=plain)
    for info in infos:
        bar(info)
    bar.close("(budget)")
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue() and len(lines) == 10 and lines[-1].endswith("(budget)")
