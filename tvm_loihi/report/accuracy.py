"""How close a run's outputs are to reference outputs (``tvm-loihi run --reference``).

Relative L2 error, largest absolute error and, for class scores, argmax agreement: what lava-dl
netx users check after quantising a model."""

from __future__ import annotations

import numpy as np


def compare_outputs(output: np.ndarray, reference: np.ndarray) -> dict:
    """Relative L2 error ``||y - r|| / ||r||``, max ``|y - r|``, and argmax agreement over the last
    axis (None unless ``ndim >= 2`` with more than one class).

    Parameters
    ----------
    output, reference : numpy.ndarray
        Arrays of the same shape (ValueError otherwise, naming both shapes).

    Returns
    -------
    dict
        ``{"shape", "rel_l2_error", "max_abs_error", "argmax_agreement", "n_samples"}``;
        ``rel_l2_error`` is the plain L2 norm of the difference when the reference is all zero.
    """
    y = np.asarray(output, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if y.shape != r.shape:
        raise ValueError(f"the output has shape {y.shape}, the reference {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("the reference holds NaN or Inf values")
    diff = y - r
    norm = float(np.linalg.norm(r))
    rel = float(np.linalg.norm(diff)) / norm if norm > 0 else float(np.linalg.norm(diff))
    agreement = None
    if y.ndim >= 2 and y.shape[-1] > 1 and y.size:
        agreement = float(np.mean(np.argmax(y, axis=-1) == np.argmax(r, axis=-1)))
    return {
        "shape": list(y.shape),
        "rel_l2_error": rel,
        "max_abs_error": float(np.max(np.abs(diff))) if diff.size else 0.0,
        "argmax_agreement": agreement,
        "n_samples": int(np.prod(y.shape[:-1])) if y.ndim >= 2 else int(y.size),
    }
