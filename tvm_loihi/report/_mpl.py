"""matplotlib set-up shared by the figure modules: the headless ``Agg`` backend and a fixed pixel
size."""

from __future__ import annotations

import os

DPI = 100


def pyplot():
    """``matplotlib.pyplot`` on the ``Agg`` backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def layer_colours(n_layers: int) -> list:
    """One distinct colour per layer (tab10, then tab20 for deeper networks)."""
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if n_layers <= 10 else "tab20")
    return [cmap(k % cmap.N) for k in range(n_layers)]


def save(fig, path: str) -> str:
    """Write ``fig`` as PNG at :data:`DPI` (figsize x DPI pixels), close it, return the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    pyplot().close(fig)
    return path
