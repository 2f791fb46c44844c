"""Figures of a tuning run: convergence, per-core utilisation and the Pareto front (PNG, Agg
backend).

Every figure has a title, axes with units and a legend, and says under the title what measured it
(``measured_by``); the pixel size is ``figsize x 100`` exactly (the tests check it). Latency and
energy axes pick an SI prefix from the data (``ms``, ``uJ``...)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._mpl import layer_colours, pyplot, save
from .units import count_of, unit_axis

CONVERGENCE_SIZE = (11.0, 5.5)
UTILISATION_SIZE = (10.0, 6.0)
PARETO_SIZE = (7.0, 5.0)
NEAR_TIE = 0.02  # runs ending within this fraction of the best run are shown in the zoom panel
ZOOM_TAIL = 0.4  # the zoom panel shows this last fraction of the evaluations


def _title(title: str, measured_by: str | None) -> str:
    return title if not measured_by else f"{title}\nmeasured by: {measured_by}"


def convergence_series(
    runs: Sequence[tuple[str, Sequence[float]]],
    lower_bound_s: float | None = None,
) -> tuple[float, str, list[np.ndarray]]:
    """Best-so-far latencies as ratios to a reference: ``(reference_s, name, ratios)``.

    The reference is the simulator's lower bound when given (every ratio is then >= 1), else the
    best latency any run reached (``"best found"``); strategies a fraction of a percent apart
    stay apart on a ratio axis, where on an absolute one the Lava default squashes them together.
    """
    if lower_bound_s:
        return (
            float(lower_bound_s),
            "lower bound",
            [np.asarray(h, dtype=float) / lower_bound_s for _, h in runs],
        )
    finite = [v for _, h in runs for v in h if np.isfinite(v)]
    best = min(finite) if finite else 1.0
    return best, "best found", [np.asarray(h, dtype=float) / best for _, h in runs]


def _near_ties(finals: list[float]) -> list[int]:
    best = min(finals)
    return [i for i, f in enumerate(finals) if np.isfinite(f) and f <= best * (1 + NEAR_TIE)]


def convergence_figure(
    runs: Sequence[tuple[str, Sequence[float]]],
    *,
    default_s: float,
    lower_bound_s: float | None = None,
    title: str = "Convergence",
    measured_by: str | None = None,
):
    """The :func:`plot_convergence` figure (a ``matplotlib.figure.Figure``, not saved)."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    plt = pyplot()
    reference, ref_name, ratios = convergence_series(runs, lower_bound_s)
    finals = [float(r[np.isfinite(r)][-1]) if np.isfinite(r).any() else np.inf for r in ratios]
    ties = _near_ties(finals) if len(runs) > 1 else []
    if len({finals[i] for i in ties}) < 2:
        ties = []  # nothing to tell apart (the line widths already show identical runs)
    fig = plt.figure(figsize=CONVERGENCE_SIZE, layout="constrained")
    if len(ties) > 1:
        ax, zoom = fig.subplots(1, 2, width_ratios=[2.2, 1])
    else:
        ax, zoom = fig.subplots(1, 1), None
    factor, unit = unit_axis([reference], "s")
    n = len(runs)
    for i, ((label, _), ratio) in enumerate(zip(runs, ratios)):
        x = np.arange(1, len(ratio) + 1)
        width = 1.5 + 2.5 * (n - 1 - i) / max(n - 1, 1)  # earlier runs wider: overlaps show both
        final = f"{finals[i]:.4f}x ({finals[i] * reference / factor:.2f} {unit})"
        (line,) = ax.step(x, ratio, where="post", linewidth=width, label=f"{label}: {final}")
        if zoom is not None and i in ties:
            zoom.step(x, ratio, where="post", linewidth=width, color=line.get_color())
    ax.axhline(
        default_s / reference,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"Lava default: {default_s / reference:.4f}x",
    )
    if lower_bound_s:
        ax.axhline(
            1.0,
            color="grey",
            linestyle=":",
            linewidth=1.5,
            label=f"lower bound = 1 ({reference / factor:.2f} {unit})",
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("evaluations (measured mappings)")
    ax.set_ylabel(f"best total latency so far / {ref_name}")
    ax.grid(True, alpha=0.3)
    if zoom is not None:
        lo, hi = min(finals[i] for i in ties), max(finals[i] for i in ties)
        pad = max(0.3 * (hi - lo), 2e-4 * lo)
        longest = max(len(r) for r in ratios)
        zoom.set_xlim(max(1.0, longest * (1 - ZOOM_TAIL)), longest + 0.5)
        zoom.set_ylim(lo - pad, hi + pad)
        zoom.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        zoom.xaxis.set_major_locator(MaxNLocator(integer=True))
        zoom.set_title(
            f"last {ZOOM_TAIL:.0%} of the evaluations, zoomed\n"
            f"(runs ending within {NEAR_TIE:.0%} of the best)",
            fontsize=9,
        )
        zoom.set_xlabel("evaluations")
        zoom.grid(True, alpha=0.3)
    fig.legend(loc="outside lower center", ncol=min(3, n + 2), fontsize=9)
    fig.suptitle(_title(title, measured_by))
    return fig


def plot_convergence(
    runs: Sequence[tuple[str, Sequence[float]]],
    path: str,
    *,
    default_s: float,
    lower_bound_s: float | None = None,
    title: str = "Convergence",
    measured_by: str | None = None,
) -> str:
    """Best-so-far total latency vs evaluations, one line per strategy run, as a ratio to the
    lower bound (or to the best found); a zoom panel separates runs that end within
    :data:`NEAR_TIE` of the best, and the legend (outside the axes) gives every run's final value.

    Parameters
    ----------
    runs : sequence of (label, history)
        ``history[i]`` is the best-so-far latency (s) after evaluation ``i + 1``.
    path : str
        PNG to write.
    default_s : float
        Latency of the Lava default mapping (a dashed reference line).
    lower_bound_s : float, optional
        The simulator's lower bound: the reference of the ratios (a dotted line at 1).
    title : str
        Figure title.
    measured_by : str, optional
        What measured the latencies (e.g. ``"fast simulator, local"``), shown under the title.
    """
    return save(
        convergence_figure(
            runs,
            default_s=default_s,
            lower_bound_s=lower_bound_s,
            title=title,
            measured_by=measured_by,
        ),
        path,
    )


def _utilisation_panel(ax, mapping, measurement, layer_names: Sequence[str], colours) -> None:
    from matplotlib.ticker import MaxNLocator

    by_core = dict(
        zip(
            np.asarray(measurement.core_ids).tolist(),
            np.asarray(measurement.core_utilisation, dtype=float).tolist(),
        )
    )
    x0 = 0
    for k in range(mapping.n_layers):
        ids = mapping.layer_core_ids(k)
        util = np.array([by_core.get(int(c), 0.0) for c in ids]) * 100.0
        ax.bar(
            np.arange(x0, x0 + len(ids)),
            util,
            width=1.0,
            color=colours[k],
            edgecolor="none",
            label=f"{layer_names[k]} ({count_of(len(ids), 'core')})",
        )
        x0 += len(ids)
    ax.set_xlim(-0.5, x0 - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # cores are counted, not measured
    ax.set_ylabel("busy time (% of run)")
    ax.grid(True, axis="y", alpha=0.3)


def plot_utilisation(
    panels: Sequence[tuple[str, object, object]],
    layer_names: Sequence[str],
    path: str,
    title: str = "Per-core utilisation",
    *,
    measured_by: str | None = None,
) -> str:
    """Write :func:`utilisation_figure` to the PNG ``path`` and return the path."""
    return save(utilisation_figure(panels, layer_names, title, measured_by=measured_by), path)


def utilisation_figure(
    panels: Sequence[tuple[str, object, object]],
    layer_names: Sequence[str],
    title: str = "Per-core utilisation",
    *,
    measured_by: str | None = None,
):
    """Busy fraction of every used core, cores grouped by layer, one panel per mapping.

    Parameters
    ----------
    panels : sequence of (label, Mapping, Measurement)
        E.g. ``[("Lava default", m0, meas0), ("best found", m1, meas1)]``; the measurement must
        come from
        :func:`tvm_loihi.sim.evaluate` (it carries ``core_ids`` and ``core_utilisation``).
    layer_names : sequence of str
        Legend labels of the layers.
    measured_by : str, optional
        What produced the busy times (e.g. ``"fast simulator, local"``), shown under the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    fig, axes = plt.subplots(
        len(panels), 1, figsize=UTILISATION_SIZE, layout="constrained", squeeze=False
    )
    colours = layer_colours(len(layer_names))
    top = max(float(np.max(m.core_utilisation)) for _, _, m in panels) * 100.0
    for ax, (label, mapping, measurement) in zip(axes[:, 0], panels):
        _utilisation_panel(ax, mapping, measurement, layer_names, colours)
        ax.set_ylim(0, max(top * 1.3, 1e-3))  # head room for the legend
        ax.set_title(
            f"{label}: {count_of(measurement.cores_used, 'core')}, mean busy "
            f"{np.mean(measurement.core_utilisation) * 100:.1f} %",
            fontsize=10,
        )
        ax.legend(loc="upper right", fontsize=8, ncol=min(4, len(layer_names)))
    axes[-1, 0].set_xlabel("core (in layer order, slice by slice)")
    fig.suptitle(_title(title, measured_by))
    return fig


def plot_pareto(
    front: Sequence[tuple[float, float]],
    path: str,
    *,
    measured=None,
    default: tuple[float, float] | None = None,
    best: tuple[float, float] | None = None,
    title: str = "Pareto front: latency vs energy",
    measured_by: str | None = None,
) -> str:
    """Total latency vs energy per inference: measured mappings, non-dominated front, references.

    Parameters
    ----------
    front : sequence of (latency_s, energy_j)
        The non-dominated mappings.
    measured : sequence of (latency_s, energy_j), optional
        Every successful measurement (grey dots).
    default, best : (latency_s, energy_j), optional
        The Lava default and the best-latency mapping.
    title : str
        Figure title.
    measured_by : str, optional
        What measured the points (fidelity, local or RPC hosts), shown under the title.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=PARETO_SIZE, layout="constrained")
    pts = [
        p
        for group in (front, measured or [], [default] if default else [], [best] if best else [])
        for p in group
    ]
    tf, tu = unit_axis([p[0] for p in pts], "s")
    ef, eu = unit_axis([p[1] for p in pts], "J")
    if measured:
        m = np.asarray(measured, dtype=float)
        ax.scatter(m[:, 0] / tf, m[:, 1] / ef, s=10, color="lightgrey", label="measured mappings")
    f = np.asarray(sorted(front), dtype=float).reshape(-1, 2)
    ax.plot(f[:, 0] / tf, f[:, 1] / ef, "o-", color="tab:red", label="Pareto front")
    if default:
        ax.scatter(
            [default[0] / tf],
            [default[1] / ef],
            marker="s",
            s=60,
            color="black",
            label="Lava default",
        )
    if best:
        ax.scatter(
            [best[0] / tf],
            [best[1] / ef],
            marker="*",
            s=140,
            color="tab:blue",
            label="best latency",
            zorder=3,
        )
    ax.set_xlabel(f"total latency ({tu})")
    ax.set_ylabel(f"energy per inference ({eu})")
    ax.set_title(_title(title, measured_by), fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return save(fig, path)
