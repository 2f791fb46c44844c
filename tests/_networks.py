"""Small seeded integer networks for search and tuning tests (no quantisation step needed)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps

from tvm_loihi.model.network import Layer, NetworkIR


def tiny_network(
    sizes: tuple[int, ...], seed: int = 0, density: float = 0.6, name: str | None = None
) -> NetworkIR:
    """Weights in [-60, 60) with the given density, shift 4, bias 1, ReLU on every hidden layer."""
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(len(sizes) - 1):
        shape = (sizes[k + 1], sizes[k])
        w = rng.integers(-60, 60, shape) * (rng.random(shape) < density)
        layers.append(
            Layer(
                f"fc{k}",
                sps.csr_matrix(w.astype(np.int8)),
                4,
                np.ones(shape[0]),
                relu=k < len(sizes) - 2,
            )
        )
    return NetworkIR(tuple(layers), name=name or f"tiny{sizes}")
