"""Figures of a tuning run: convergence, per-core utilisation and the Pareto front (PNG, Agg
backend).

Every figure has a title, axes with units and a legend; the pixel size is ``figsize x 100`` exactly
(the tests check it). Latency and energy axes pick an SI prefix from the data (``ms``,
``uJ``...)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._mpl import layer_colours, pyplot, save
from .units import count_of, unit_axis

CONVERGENCE_SIZE = (8.0, 5.0)
UTILISATION_SIZE = (10.0, 6.0)
PARETO_SIZE = (7.0, 5.0)


def plot_convergence(
    runs: Sequence[tuple[str, Sequence[float]]],
    path: str,
    *,
    default_s: float,
    lower_bound_s: float | None = None,
    title: str = "Convergence",
) -> str:
    """Best-so-far total latency vs evaluations, one line per strategy run.

    Parameters
    ----------
    runs : sequence of (label, history)
        ``history[i]`` is the best-so-far latency (s) after evaluation ``i + 1``.
    path : str
        PNG to write.
    default_s : float
        Latency of the Lava default mapping (a dashed reference line).
    lower_bound_s : float, optional
        The simulator's lower bound (a dotted line).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=CONVERGENCE_SIZE, layout="constrained")
    values = [v for _, h in runs for v in h if np.isfinite(v)] + [default_s]
    factor, unit = unit_axis(values, "s")
    for label, history in runs:
        h = np.asarray(history, dtype=float)
        ax.step(np.arange(1, len(h) + 1), h / factor, where="post", linewidth=2, label=label)
    ax.axhline(default_s / factor, color="black", linestyle="--", linewidth=1, label="Lava default")
    if lower_bound_s:
        ax.axhline(
            lower_bound_s / factor, color="grey", linestyle=":", linewidth=1.5, label="lower bound"
        )
    ax.set_xlabel("evaluations (measured mappings)")
    ax.set_ylabel(f"best total latency so far ({unit})")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center right")
    return save(fig, path)


def _utilisation_panel(ax, mapping, measurement, layer_names: Sequence[str], colours) -> None:
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
    ax.set_ylabel("busy time (% of run)")
    ax.grid(True, axis="y", alpha=0.3)


def plot_utilisation(
    panels: Sequence[tuple[str, object, object]],
    layer_names: Sequence[str],
    path: str,
    title: str = "Per-core utilisation",
) -> str:
    """Busy fraction of every used core, cores grouped by layer, one panel per mapping.

    Parameters
    ----------
    panels : sequence of (label, Mapping, Measurement)
        E.g. ``[("Lava default", m0, meas0), ("best found", m1, meas1)]``; the measurement must
        come from
        :func:`tvm_loihi.sim.evaluate` (it carries ``core_ids`` and ``core_utilisation``).
    layer_names : sequence of str
        Legend labels of the layers.
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
    fig.suptitle(title)
    return save(fig, path)


def plot_pareto(
    front: Sequence[tuple[float, float]],
    path: str,
    *,
    measured=None,
    default: tuple[float, float] | None = None,
    best: tuple[float, float] | None = None,
    title: str = "Pareto front: latency vs energy",
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
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return save(fig, path)
