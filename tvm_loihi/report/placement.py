"""Where the cores sit: the global router mesh with each core coloured by layer, link load, chips
outlined.

Link load is the number of messages a link carried over the run (both directions of a
router-to-router edge summed), drawn as line width and heat colour on a scale shared by every panel;
the host port (input spikes enter at global router (0, 0) of chip 0) is marked.

Only the part of the mesh in use is drawn (:func:`placement_view`): the routers of every panel's
cores, loaded links and the host port, plus one router of context on each side; the title says
which part that is. A network of 9 cores on a 128-core chip would otherwise be 95 % unused grey."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..model.hardware import HardwareSpec, core_coords, global_router_xy
from ._mpl import layer_colours, pyplot, save
from .units import count_of

_CELL = 0.6  # fraction of a router cell the cores fill (links run in the gaps)
VIEW_MARGIN = 1  # routers of context around the used region
VIEW_MIN_ROUTERS = 4  # the shown region is at least this many routers wide and high
VIEW_FULL_FRACTION = 0.6  # show the whole mesh when the used region covers more than this


@dataclass(frozen=True)
class MeshView:
    """The part of the global router mesh a placement figure shows (inclusive router ranges)."""

    x0: int
    x1: int
    y0: int
    y1: int
    full: bool

    @property
    def shape(self) -> tuple[int, int]:
        """``(width, height)`` in routers."""
        return self.x1 - self.x0 + 1, self.y1 - self.y0 + 1

    def describe(self, hardware: HardwareSpec) -> str:
        """One line for the title: which part of the mesh is shown."""
        gw, gh = hardware.mesh_shape
        if self.full:
            return f"whole {gw} x {gh} router mesh"
        return (
            f"routers x {self.x0}-{self.x1}, y {self.y0}-{self.y1} of the {gw} x {gh} mesh "
            f"({hardware.n_cores} cores; the rest are unused)"
        )


def _span(lo: int, hi: int, size: int) -> tuple[int, int]:
    lo, hi = max(0, lo - VIEW_MARGIN), min(size - 1, hi + VIEW_MARGIN)
    short = min(VIEW_MIN_ROUTERS, size) - (hi - lo + 1)
    if short > 0:  # widen, towards the far side first
        grow = min(short, size - 1 - hi)
        hi, lo = hi + grow, lo - (short - grow)
    return lo, hi


def placement_view(
    hardware: HardwareSpec, panels: Sequence[tuple[str, object, object]]
) -> MeshView:
    """The region every panel's cores, loaded links and the host port lie in, with context.

    Parameters
    ----------
    hardware : HardwareSpec
        The system.
    panels : sequence of (label, Mapping, Measurement)
        As for :func:`plot_placement`.

    Returns
    -------
    MeshView
        One router of context on each side, at least :data:`VIEW_MIN_ROUTERS` routers each way;
        the whole mesh when the region would cover more than :data:`VIEW_FULL_FRACTION` of it.
    """
    xy = global_router_xy(hardware)
    points = [np.zeros((1, 2), dtype=float)]  # the host port
    for _, mapping, measurement in panels:
        ids = np.concatenate([mapping.layer_core_ids(k) for k in range(mapping.n_layers)])
        points.append(xy[ids].astype(float))
        segments, load = edge_loads(measurement.link_messages)
        points.append(segments[load > 0].reshape(-1, 2))
    pts = np.concatenate(points)
    gw, gh = hardware.mesh_shape
    x0, x1 = _span(int(pts[:, 0].min()), int(pts[:, 0].max()), gw)
    y0, y1 = _span(int(pts[:, 1].min()), int(pts[:, 1].max()), gh)
    if (x1 - x0 + 1) * (y1 - y0 + 1) > VIEW_FULL_FRACTION * gw * gh:
        return MeshView(0, gw - 1, 0, gh - 1, True)
    return MeshView(x0, x1, y0, y1, False)


def placement_size(
    hardware: HardwareSpec, n_panels: int, view: MeshView | None = None
) -> tuple[float, float]:
    """Figure size (inches) for ``n_panels`` side by side: panels follow the aspect ratio of the
    shown region (``view``, default the whole mesh)."""
    gw, gh = view.shape if view is not None else hardware.mesh_shape
    height = 8.0 if gh >= gw else 6.0
    panel_w = min(9.0, max(3.0, (height - 1.6) * gw / gh))
    return round(min(20.0, n_panels * panel_w + 2.0), 1), height


def edge_loads(link_messages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(segments (E, 2, 2), load (E,))`` of every router-to-router edge, both directions summed.

    ``link_messages`` is ``(4, gh, gw)``: east, west, north, south links leaving each router.
    """
    east, west, north, south = np.asarray(link_messages, dtype=float)
    gh, gw = east.shape
    y, x = np.mgrid[0:gh, 0 : gw - 1]
    h_load = (east[:, :-1] + west[:, 1:]).ravel()
    h_seg = np.stack([np.stack([x, y], -1), np.stack([x + 1, y], -1)], axis=-2).reshape(-1, 2, 2)
    y, x = np.mgrid[0 : gh - 1, 0:gw]
    v_load = (north[:-1, :] + south[1:, :]).ravel()
    v_seg = np.stack([np.stack([x, y], -1), np.stack([x, y + 1], -1)], axis=-2).reshape(-1, 2, 2)
    return np.concatenate([h_seg, v_seg]).astype(float), np.concatenate([h_load, v_load])


def _core_boxes(hardware: HardwareSpec) -> tuple[np.ndarray, float]:
    """Lower-left corner of every core's square and the square's side (data units = routers)."""
    xy = global_router_xy(hardware).astype(float)
    slot = core_coords(hardware)[:, 3]
    side = int(np.ceil(np.sqrt(hardware.cores_per_router)))
    size = _CELL / side
    corner = xy - _CELL / 2 + np.stack([slot % side, slot // side], axis=1) * size
    return corner, size


def _draw_cores(ax, hardware: HardwareSpec, mapping, colours) -> None:
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    layer = np.full(hardware.n_cores, -1)
    for k in range(mapping.n_layers):
        layer[mapping.layer_core_ids(k)] = k
    corner, size = _core_boxes(hardware)
    faces = [colours[k] if k >= 0 else (0.93, 0.93, 0.93, 1.0) for k in layer.tolist()]
    boxes = [Rectangle((cx, cy), size, size) for cx, cy in corner.tolist()]
    ax.add_collection(
        PatchCollection(boxes, facecolors=faces, edgecolors="white", linewidths=0.3, zorder=2)
    )


def _draw_chips(ax, hardware: HardwareSpec, view: MeshView) -> None:
    from matplotlib.patches import Rectangle

    for chip in range(hardware.n_chips):
        cx, cy = chip % hardware.chips_x, chip // hardware.chips_x
        x0, y0 = cx * hardware.routers_x - 0.5, cy * hardware.routers_y - 0.5
        x1, y1 = x0 + hardware.routers_x, y0 + hardware.routers_y
        if x1 < view.x0 or x0 > view.x1 + 1 or y1 < view.y0 or y0 > view.y1 + 1:
            continue  # outside the shown region
        ax.add_patch(
            Rectangle(
                (x0, y0),
                hardware.routers_x,
                hardware.routers_y,
                fill=False,
                edgecolor="black",
                linewidth=2.0,
                zorder=4,
            )
        )
        ax.text(  # top left of the chip's visible part
            max(x0, view.x0 - 0.7) + 0.1,
            min(y1, view.y1 + 0.7) - 0.1,
            f"chip {chip}",
            va="top",
            ha="left",
            fontsize=8,
            zorder=5,
            bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0, "pad": 1},
        )


def _draw_links(ax, link_messages: np.ndarray, norm, cmap) -> None:
    from matplotlib.collections import LineCollection

    segments, load = edge_loads(link_messages)
    used = load > 0
    if not used.any():
        return
    widths = 0.5 + 5.5 * load[used] / max(norm.vmax, 1.0)
    ax.add_collection(
        LineCollection(
            segments[used],
            colors=cmap(norm(load[used])),
            linewidths=widths,
            alpha=0.9,
            zorder=3,
            capstyle="round",
        )
    )


def plot_placement(
    hardware: HardwareSpec,
    panels: Sequence[tuple[str, object, object]],
    layer_names: Sequence[str],
    path: str,
    title: str = "Placement on the mesh",
    *,
    measured_by: str | None = None,
) -> str:
    """Draw each mapping on the used part of the mesh with the link load of its simulated run.

    Parameters
    ----------
    hardware : HardwareSpec
        The system (mesh, chips, cores per router).
    panels : sequence of (label, Mapping, Measurement)
        One panel per mapping; the measurement must carry ``link_messages``
        (:func:`tvm_loihi.sim.evaluate`).
    layer_names : sequence of str
        Legend labels of the layers.
    path : str
        PNG to write.
    title : str
        First title line; the second says which part of the mesh is shown
        (:func:`placement_view`).
    measured_by : str, optional
        What produced the link loads (e.g. ``"fast simulator, local"``), added to the title.
    """
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    view = placement_view(hardware, panels)
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=placement_size(hardware, len(panels), view),
        layout="constrained",
        squeeze=False,
    )
    colours = layer_colours(len(layer_names))
    vmax = max(float(edge_loads(m.link_messages)[1].max(initial=0.0)) for _, _, m in panels)
    norm, cmap = Normalize(0.0, max(vmax, 1.0)), plt.get_cmap("inferno_r")
    for ax, (label, mapping, measurement) in zip(axes[0], panels):
        _draw_links(ax, measurement.link_messages, norm, cmap)
        _draw_cores(ax, hardware, mapping, colours)
        _draw_chips(ax, hardware, view)
        ax.plot([0], [0], marker="v", color="tab:green", markersize=9, zorder=6, linestyle="none")
        ax.set_xlim(view.x0 - 0.7, view.x1 + 0.7)
        ax.set_ylim(view.y0 - 0.7, view.y1 + 0.7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_aspect("equal")
        ax.set_xlabel("router x (global mesh)")
        ax.set_ylabel("router y (global mesh)")
        ax.set_title(
            f"{label}: {count_of(measurement.cores_used, 'core')} on "
            f"{count_of(measurement.chips_used, 'chip')}",
            fontsize=10,
        )
    handles = [Patch(color=c, label=n) for c, n in zip(colours, layer_names)]
    handles += [
        Patch(color=(0.93, 0.93, 0.93), label="unused core"),
        plt.Line2D([], [], marker="v", color="tab:green", linestyle="none", label="host port"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=8)
    fig.colorbar(
        plt.cm.ScalarMappable(norm=norm, cmap=cmap),
        ax=axes[0, -1],
        label="link load (messages over the run)",
    )
    lines = [title, view.describe(hardware)]
    if measured_by:
        lines[1] += f"; link load: {measured_by}"
    fig.suptitle("\n".join(lines), fontsize=11)
    return save(fig, path)
