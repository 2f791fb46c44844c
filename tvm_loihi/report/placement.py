"""Where the cores sit: the global router mesh with each core coloured by layer, link load, chips
outlined.

Link load is the number of messages a link carried over the run (both directions of a
router-to-router edge summed), drawn as line width and heat colour on a scale shared by every panel;
the host port (input spikes enter at global router (0, 0) of chip 0) is marked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..model.hardware import HardwareSpec, core_coords, global_router_xy
from ._mpl import layer_colours, pyplot, save
from .units import count_of

_CELL = 0.6  # fraction of a router cell the cores fill (links run in the gaps)


def placement_size(hardware: HardwareSpec, n_panels: int) -> tuple[float, float]:
    """Figure size (inches) for ``n_panels`` side by side: panels follow the mesh's aspect ratio."""
    gw, gh = hardware.mesh_shape
    height = 8.0
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


def _draw_chips(ax, hardware: HardwareSpec) -> None:
    from matplotlib.patches import Rectangle

    for chip in range(hardware.n_chips):
        cx, cy = chip % hardware.chips_x, chip // hardware.chips_x
        x0, y0 = cx * hardware.routers_x - 0.5, cy * hardware.routers_y - 0.5
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
        ax.text(
            x0 + 0.1,
            y0 + hardware.routers_y - 0.1,
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
) -> str:
    """Draw each mapping on the mesh with the link load of its simulated run.

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
    """
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

    plt = pyplot()
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=placement_size(hardware, len(panels)),
        layout="constrained",
        squeeze=False,
    )
    colours = layer_colours(len(layer_names))
    vmax = max(float(edge_loads(m.link_messages)[1].max(initial=0.0)) for _, _, m in panels)
    norm, cmap = Normalize(0.0, max(vmax, 1.0)), plt.get_cmap("inferno_r")
    gw, gh = hardware.mesh_shape
    for ax, (label, mapping, measurement) in zip(axes[0], panels):
        _draw_links(ax, measurement.link_messages, norm, cmap)
        _draw_cores(ax, hardware, mapping, colours)
        _draw_chips(ax, hardware)
        ax.plot([0], [0], marker="v", color="tab:green", markersize=9, zorder=6, linestyle="none")
        ax.set_xlim(-0.7, gw - 0.3)
        ax.set_ylim(-0.7, gh - 0.3)
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
    fig.suptitle(title)
    return save(fig, path)
