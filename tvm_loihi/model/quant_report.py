"""Per-layer quantisation report (``tvm-loihi inspect``): the fixed-point parameters each layer got
and what they do to sample inputs -- the numbers lava-dl netx users check after quantising.

For each layer of a :class:`~tvm_loihi.model.network.NetworkIR`, run bit-exactly on the samples:

* ``weight_exponent`` ``e`` (weights are ``W_int * 2**e``) and ``shift`` ``s`` (``acc >> s``);
* ``peak`` -- the largest output magnitude seen, and ``range_use`` = ``peak / target``, ``target``
  being the range the shift was chosen to fill on the calibration samples (``2**8 - 1`` for hidden
  layers, ``2**15 - 1`` for the last; :mod:`~tvm_loihi.model.quantize`): far below 1 means few
  output levels are used, above 1 means these samples exceed the calibrated range;
* ``saturated`` -- the fraction of outputs clipped at ``hi`` (or at ``lo`` below zero): information
  lost at the top;
* ``rounded_to_zero`` -- of the outputs whose exact pre-activation ``acc + b * 2**s`` is non-zero
  (positive for ReLU layers), the fraction that ``>> s`` turns into an exact 0: information lost at
  the bottom (a sign the shift is too large, e.g. set by an outlier in the calibration samples).
"""

from __future__ import annotations

import numpy as np

from .network import NetworkIR, _dense_times_sparse
from .quantize import DEFAULT_ACTIVATION_BITS, DEFAULT_OUTPUT_BITS

INPUT_ROW = "(input)"  # the first row: the input quantisation (scale from the calibration)


def quantization_report(network: NetworkIR, x: np.ndarray) -> list[dict]:
    """Per-layer fixed-point parameters and their effect on the float input batch ``x``.

    Parameters
    ----------
    network : NetworkIR
        The quantised network.
    x : numpy.ndarray
        ``(n_samples, n_inputs)`` float inputs (calibration or sample inputs).

    Returns
    -------
    list of dict
        The input first (name ``"(input)"``, ``weight_exponent`` and ``shift`` None: its
        ``rounded_to_zero`` is the fraction of non-zero inputs the input scale turns into 0), then
        one per layer: ``name, weight_exponent, shift, lo, hi, target, peak, range_use,
        saturated, rounded_to_zero``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != network.n_inputs or not len(x):
        raise ValueError(
            f"network {network.name!r} expects (n_samples, {network.n_inputs}) "
            f"samples, got {x.shape}"
        )
    h = np.clip(network.quantize_input(x), network.input_lo, network.input_hi)
    live_in = x != 0
    raw = np.rint(x / network.input_scale)  # before the clip to the input range
    peak_in = int(np.max(np.abs(h)))
    rows = [
        {
            "name": INPUT_ROW,
            "weight_exponent": None,
            "shift": None,
            "lo": int(network.input_lo),
            "hi": int(network.input_hi),
            "target": int(network.input_hi),
            "peak": peak_in,
            "range_use": peak_in / network.input_hi if network.input_hi else 0.0,
            "saturated": float(np.mean((raw > network.input_hi) | (raw < network.input_lo))),
            "rounded_to_zero": float(np.mean(h[live_in] == 0)) if live_in.any() else 0.0,
        }
    ]
    for k, layer in enumerate(network.layers):
        acc = _dense_times_sparse(h, layer.weights)
        y = layer.forward(h)
        unclipped = (acc >> layer.shift) + layer.bias.astype(np.int64)
        if layer.relu:
            unclipped = np.maximum(unclipped, 0)
        clipped = (unclipped > layer.hi) | ((unclipped < layer.lo) & (layer.lo < 0))
        exact = acc + (layer.bias.astype(np.int64) << layer.shift)
        live = exact > 0 if layer.relu else exact != 0
        last = k == network.depth - 1
        target = 2 ** (DEFAULT_OUTPUT_BITS - 1) - 1 if last else 2**DEFAULT_ACTIVATION_BITS - 1
        peak = int(np.max(np.abs(y))) if y.size else 0
        rows.append(
            {
                "name": layer.name,
                "weight_exponent": int(layer.weight_exponent),
                "shift": int(layer.shift),
                "lo": int(layer.lo),
                "hi": int(layer.hi),
                "target": target,
                "peak": peak,
                "range_use": peak / target,
                "saturated": float(np.mean(clipped)) if y.size else 0.0,
                "rounded_to_zero": float(np.mean(y[live] == 0)) if live.any() else 0.0,
            }
        )
        h = y
    return rows
