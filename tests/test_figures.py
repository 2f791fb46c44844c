"""Report output on a real tuning run (mlp_tiny, in-process simulator): the PNG figures exist, have
the size their figsize promises, are not blank and show each layer's colour; link loads, the
progress bar and the comparison table are checked against direct computations."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib import image as mpimg

from tvm_loihi.model import workloads
from tvm_loihi.model.hardware import get_preset, global_router_xy
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.report import ProgressBar, format_comparison
from tvm_loihi.report._mpl import DPI, layer_colours
from tvm_loihi.report.figures import (
    CONVERGENCE_SIZE,
    PARETO_SIZE,
    UTILISATION_SIZE,
    convergence_figure,
    convergence_series,
    plot_convergence,
    plot_pareto,
    plot_utilisation,
    utilisation_figure,
)
from tvm_loihi.report.placement import (
    VIEW_MARGIN,
    edge_loads,
    placement_size,
    placement_view,
    plot_placement,
)
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


def _count_colour(rgb: np.ndarray, colour, tol: float = 0.02) -> int:
    return int((np.abs(rgb - np.asarray(colour[:3])).max(axis=2) < tol).sum())


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


def _close_runs(run):
    """Two strategies that end 0.3 us apart on a ~100 us latency, and a clearly worse one."""
    h = np.asarray(run["res"].history, dtype=float)
    a = np.minimum.accumulate(np.concatenate([h, h[-1:] * np.ones(10)]))
    b = a.copy()
    b[-5:] -= 0.3e-6
    return [("ga", a), ("bilevel", b), ("random", a * 1.1)]


def test_convergence_is_a_ratio_to_the_lower_bound_and_separates_close_runs(run, tmp_path):
    res = run["res"]
    lb = lower_bound(run["net"], run["hw"], run["act"])
    runs = _close_runs(run)
    reference, name, ratios = convergence_series(runs, lb)
    assert reference == lb and name == "lower bound"
    assert all((r >= 1.0).all() for r in ratios)
    fig = convergence_figure(
        runs,
        default_s=res.default_result.latency_s,
        lower_bound_s=lb,
        measured_by="fast simulator, runner local",
    )
    main, zoom = fig.axes
    for ax in (main, zoom):
        ydata = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
        assert all((y >= 1.0).all() for y in ydata)
    assert "/ lower bound" in main.get_ylabel()
    assert main.get_legend() is None
    assert len(fig.legends) == 1  # one legend, outside the axes
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(lab.startswith("ga: ") and "x (" in lab for lab in labels)
    # the zoom shows only the two close runs, far enough apart to be told apart
    assert len(zoom.get_lines()) == 2
    lo, hi = zoom.get_ylim()
    gap = 0.3e-6 / lb
    assert gap / (hi - lo) > 0.3
    assert "measured by: fast simulator, runner local" in fig._suptitle.get_text()
    path = plot_convergence(
        runs, str(tmp_path / "c.png"), default_s=res.default_result.latency_s, lower_bound_s=lb
    )
    rgb = _check_png(path, CONVERGENCE_SIZE)
    plot_area = rgb[: int(rgb.shape[0] * 0.8)]  # above the legend
    for colour in layer_colours(3):  # tab10: ga, bilevel, random in drawing order
        assert _count_colour(plot_area, colour) > 50


def test_convergence_without_lower_bound_is_relative_to_the_best_found(run):
    runs = _close_runs(run)
    reference, name, ratios = convergence_series(runs)
    assert name == "best found" and reference == min(float(r[-1]) for _, r in runs)
    assert min(float(r.min()) for r in ratios) == 1.0


def test_placement_figure_shows_every_layer_and_link_heat(run, tmp_path):
    path = plot_placement(run["hw"], run["panels"], run["names"], str(tmp_path / "p.png"))
    rgb = _check_png(path, placement_size(run["hw"], 2, placement_view(run["hw"], run["panels"])))
    for colour in layer_colours(len(run["names"])):
        assert _has_colour(rgb, colour)


_UNUSED_GREY = (0.93, 0.93, 0.93)


@pytest.fixture(scope="module")
def small_on_mesh16(run):
    """mlp_tiny's Lava default (3 cores) on the 8 x 16 x 1 mesh, where most of the mesh is unused
    (the run's own best may spread over every core of the default 8 x 4 x 4 chip)."""
    net, hw = run["net"], get_preset("loihi2_1chip_mesh16")
    act = default_activity(net, hw)
    m = lava_default_mapping(net, hw)
    return net, hw, act, [("Lava default", m, evaluate(net, m, hw, act))]


def test_placement_is_cropped_to_the_used_cores(run, small_on_mesh16, tmp_path):
    _, hw, _, panels = small_on_mesh16
    used = {int(c) for _, m, _ in panels for k in range(m.n_layers) for c in m.layer_core_ids(k)}
    assert len(used) < 0.1 * hw.n_cores  # mlp_tiny: a few of the 128 cores
    view = placement_view(hw, panels)
    xy = global_router_xy(hw)[sorted(used)]
    gw, gh = hw.mesh_shape
    # every used core with one router of context (where the mesh has one), the host port, and
    # far less than the whole mesh
    assert view.x0 <= max(0, xy[:, 0].min() - VIEW_MARGIN) and view.y0 == 0
    assert view.x1 >= min(gw - 1, xy[:, 0].max() + VIEW_MARGIN)
    assert view.y1 >= min(gh - 1, xy[:, 1].max() + VIEW_MARGIN)
    assert not view.full and view.shape[0] * view.shape[1] <= 0.25 * gw * gh
    path = plot_placement(
        hw, panels, run["names"], str(tmp_path / "p.png"), measured_by="fast simulator, local"
    )
    rgb = _check_png(path, placement_size(hw, 1, view))
    # the drawn cores are mostly the network's, not unused grey (uncropped: 3 of 128 = 2 %)
    layer_px = sum(_count_colour(rgb, c) for c in layer_colours(len(run["names"])))
    grey_px = _count_colour(rgb, _UNUSED_GREY)
    assert layer_px / (layer_px + grey_px) > 0.1


def test_placement_title_says_what_part_of_the_mesh_is_shown(small_on_mesh16):
    _, hw, _, panels = small_on_mesh16
    view = placement_view(hw, panels)
    assert view.describe(hw) == (
        f"routers x {view.x0}-{view.x1}, y {view.y0}-{view.y1} of the "
        "8 x 16 mesh (128 cores; the rest are unused)"
    )


@pytest.mark.parametrize(
    "preset, mesh", [("loihi2_1chip_mesh16", "8 x 16"), ("loihi2_1chip", "8 x 4")]
)
def test_placement_of_a_spread_mapping_shows_the_whole_mesh(run, preset, mesh):
    net, hw = run["net"], get_preset(preset)
    corners = Mapping.from_assignment(net, (1, 1, 1), [0, 7, 127])  # opposite corners
    panels = [("corners", corners, evaluate(net, corners, hw, run["act"]))]
    view = placement_view(hw, panels)
    assert view.full and view.describe(hw) == f"whole {mesh} router mesh"


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
    path = plot_utilisation(
        run["panels"],
        run["names"],
        str(tmp_path / "u.png"),
        measured_by="fast simulator, re-run locally",
    )
    rgb = _check_png(path, UTILISATION_SIZE)
    for colour in layer_colours(len(run["names"])):
        assert _has_colour(rgb, colour)


def test_utilisation_core_ticks_are_whole_cores(run):
    fig = utilisation_figure(run["panels"], run["names"], measured_by="fast simulator")
    for ax in fig.axes:
        fig.canvas.draw()
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)  # mlp_tiny: 3 cores
    assert fig._suptitle.get_text().endswith("measured by: fast simulator")


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


def test_convergence_of_identical_runs_has_no_zoom(run):
    h = run["res"].history
    fig = convergence_figure([("ga", h), ("random", h)], default_s=h[0])
    assert len(fig.axes) == 1
