"""Float layers -> :class:`~tvm_loihi.model.network.NetworkIR`: fixed-point parameters chosen once,
at compile time.

How the parameters are chosen (as on the chip, they are never recomputed per call)
------------------------------------------------------------------------------------
* **Weights**: per layer a power-of-two exponent ``e = ceil(log2(max|W| / 127))`` and
  ``W_int = clip(round(W / 2**e), -128, 127)``; exact zeros stay zeros (sparsity is preserved).
  With ``weight_clip_percentile=p`` the exponent comes from the ``p``-th percentile of the layer's
  non-zero ``|W|`` instead of the maximum, so the few weights above it saturate at -128/127
  instead of rounding every other weight to 0.
* **Checks**: a NaN, an infinity or an empty dimension in a layer's weight or bias is a
  ``ValueError`` naming the layer. A layer whose exponent rounds more than
  :data:`LOST_WEIGHTS_WARN_FRACTION` of its non-zero weights to 0 (one outlier weight sets the
  step for all of them: the chip has one weight exponent per layer) raises a
  :class:`QuantizationWarning` naming the layer, the fraction lost and what to do.
* **Input**: with calibration samples, ``scale = max|x| / 255`` when every sample is non-negative
  (range ``[0, 255]``) else ``max|x| / 127`` (range ``[-127, 127]``). Without calibration the
  documented default assumes ``|x| <= 1`` and a signed range: ``scale = 1/127``.
* **Shift** of layer ``k``: the smallest ``s >= 0`` such that the largest pre-activation seen on the
  calibration samples fits the target range after ``>> s`` -- ``2**activation_bits - 1`` (255) for
  hidden layers, ``2**(output_bits - 1) - 1`` for the last layer. Without calibration the
  accumulator magnitude is estimated from the weights alone: a random-sign model propagates the
  activation RMS (``x_hi / 2`` at the input) as
  ``sigma_acc = sqrt(mean non-zeros per row) * rms(W_int) * x_rms`` and the shift makes
  ``4 * sigma_acc`` fit.
* **Bias**: ``b_int = round(b / out_scale)`` with ``out_scale = in_scale * 2**(e + s)``,
  clipped to 24 bits.
* **Saturation**: ReLU layers saturate at ``[0, hi]``, identity layers at ``[-hi, hi]``, ``hi``
  being the 24-bit graded-spike maximum, lowered when needed so that ``sum |2 W_next| * hi < 2**31``
  (Lava's int32 accumulator of ``2W`` can then never wrap on the next layer).

* **On-chip input population** (``input_layer=True``, ``LoihiConfig(input_layer="chip")``): a
  first layer named ``"input"`` of ``n_in`` neurons with identity weights (1, shift 0, no bias, no
  ReLU, saturation at the input range) -- an exact relay, as lava-dl netx's ``Input`` block puts the
  input neurons on cores. The host then sends one message per active input (to the core holding
  that neuron) and the fan-out to layer 1's cores happens on chip, spread over as many cores as the
  mapper gives the input population. The network is one layer (one pipeline stage) deeper.

How to pass calibration samples: ``tvm_loihi.LoihiConfig(calibration=x)`` (or the ``calibration=``
argument of the functions here) with an array ``(n_samples, n_inputs)`` of typical float inputs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps

from .network import ACCUMULATOR_LIMIT, PAYLOAD_MAX, WEIGHT_MAX, WEIGHT_MIN, Layer, NetworkIR

DEFAULT_ACTIVATION_BITS = 8
DEFAULT_OUTPUT_BITS = 16
INPUT_LAYER_NAME = "input"  # the on-chip input population's layer name
# Gaussian or magnitude-pruned weights lose 0-2 % of their non-zeros to rounding (the built-in
# workloads 0 %); one 100x outlier among 0.1-sized weights loses 46 % and drops argmax agreement
# from 0.98 to 0.88; a 1e4 outlier loses 99.8 %.
LOST_WEIGHTS_WARN_FRACTION = 0.25


class QuantizationWarning(UserWarning):
    """A layer's 8-bit quantisation lost most of its weights (the message names the layer)."""


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """A float dense layer ``y = act(W @ x + b)`` as found in the source model.

    Parameters
    ----------
    name : str
        Name for messages.
    weight : numpy.ndarray
        ``(n_out, n_in)`` float weights (note: Relax/ONNX ``matmul(x, W)`` stores the transpose).
    bias : numpy.ndarray or None
        ``(n_out,)`` float bias.
    relu : bool
        ReLU activation.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    relu: bool

    def __post_init__(self) -> None:
        w = np.asarray(self.weight)
        if w.ndim != 2 or 0 in w.shape:
            raise ValueError(
                f"layer {self.name!r}: weight must be a non-empty 2-D (n_out, n_in) "
                f"array, got shape {w.shape}"
            )
        _check_finite(self.name, "weight", w)
        if self.bias is not None:
            b = np.asarray(self.bias).reshape(-1)
            if b.shape != (w.shape[0],):
                raise ValueError(
                    f"layer {self.name!r}: bias has {b.size} entries, "
                    f"layer has {w.shape[0]} neurons"
                )
            _check_finite(self.name, "bias", b)


def _check_finite(layer: str, what: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        counts = [
            f"{n} {kind}"
            for n, kind in (
                (int(np.isnan(values).sum()), "NaN"),
                (int(np.isinf(values).sum()), "infinite"),
            )
            if n
        ]
        raise ValueError(
            f"layer {layer!r}: {what} has {' and '.join(counts)} value(s) of {values.size} "
            f"(first at index {first}): the chip needs finite parameters; fix the model (a "
            "diverged training run or a bad export?)"
        )


def _weight_exponent(w: np.ndarray, clip_percentile: float | None = None) -> int:
    magnitude = np.abs(w[w != 0])
    if not magnitude.size:
        return 0
    peak = float(
        magnitude.max()
        if clip_percentile is None
        else np.percentile(magnitude, clip_percentile, method="lower")
    )
    return math.ceil(math.log2(peak / WEIGHT_MAX))


def _quantize_weights(
    w: np.ndarray, clip_percentile: float | None = None
) -> tuple[sps.csr_matrix, int]:
    e = _weight_exponent(w, clip_percentile)
    q = np.clip(np.rint(w / 2.0**e), WEIGHT_MIN, WEIGHT_MAX).astype(np.int8)
    return sps.csr_matrix(q), e


def _warn_if_lost(
    fl: FloatLayer, w: np.ndarray, w_int: sps.csr_matrix, e: int, network: str
) -> None:
    n_nonzero = int(np.count_nonzero(w))
    lost = n_nonzero - w_int.nnz  # exact zeros stay zeros, so every other zero was rounded away
    if n_nonzero == 0 or lost <= LOST_WEIGHTS_WARN_FRACTION * n_nonzero:
        return
    magnitude = np.abs(w[w != 0])
    peak, median = float(magnitude.max()), float(np.median(magnitude))
    warnings.warn(
        f"layer {fl.name!r} (network {network!r}): {lost} of its {n_nonzero} non-zero weights "
        f"({lost / n_nonzero:.1%}) quantise to 0: the chip has one weight step per layer and the "
        f"largest |w| {peak:.3g} ({peak / median:.3g} x the median {median:.3g}) sets it to "
        f"2**{e}. Check that weight in the model (a bad export or a diverged training run?), or "
        "clip outliers with LoihiConfig(weight_clip_percentile=99.9) "
        "(CLI: --weight-clip-percentile 99.9)",
        QuantizationWarning,
        stacklevel=3,
    )


def _input_range(calibration: np.ndarray | None) -> tuple[float, int, int]:
    if calibration is None:
        return 1.0 / 127, -127, 127
    peak = float(np.max(np.abs(calibration))) or 1.0
    if float(np.min(calibration)) >= 0:
        return peak / 255, 0, 255
    return peak / 127, -127, 127


def _saturation_bound(next_weights: sps.csr_matrix | None) -> int:
    if next_weights is None:
        return PAYLOAD_MAX
    row_abs_sum = np.asarray(abs(next_weights.astype(np.int64)).sum(axis=1)).ravel()
    worst = 2 * int(row_abs_sum.max()) if row_abs_sum.size else 0
    return PAYLOAD_MAX if worst == 0 else max(1, min(PAYLOAD_MAX, ACCUMULATOR_LIMIT // worst))


def _accumulator_sigma(w_int: sps.csr_matrix, x_rms: float) -> float:
    if w_int.nnz == 0:
        return 0.0
    rms = float(np.sqrt(np.mean(w_int.data.astype(np.float64) ** 2)))
    return math.sqrt(w_int.nnz / w_int.shape[0]) * rms * x_rms


def _shift_for(peak: float, target: int) -> int:
    return 0 if peak <= target else max(0, math.ceil(math.log2(peak / target)))


def quantize_network(
    float_layers: Sequence[FloatLayer],
    calibration: np.ndarray | None = None,
    *,
    name: str = "loihi_net",
    tap_layers: Sequence[int] = (),
    activation_bits: int = DEFAULT_ACTIVATION_BITS,
    output_bits: int = DEFAULT_OUTPUT_BITS,
    input_layer: bool = False,
    weight_clip_percentile: float | None = None,
) -> NetworkIR:
    """Quantise a chain of float layers into a :class:`NetworkIR`
    (see the module docstring for the rules and the checks).

    Parameters
    ----------
    float_layers : sequence of FloatLayer
        The chain, input to output.
    calibration : numpy.ndarray, optional
        ``(n_samples, n_in)`` typical float inputs; without them the weight-based defaults apply.
    name : str
        Network name for messages.
    tap_layers : sequence of int
        Layers whose outputs leave the network (default: the last one).
    activation_bits, output_bits : int
        Target ranges of hidden activations and of the last layer's output.
    input_layer : bool
        Prepend the on-chip input population (see the module docstring); ``tap_layers`` still
        count the float layers.
    weight_clip_percentile : float, optional
        Take each layer's weight step from this percentile (in ``(0, 100]``) of its non-zero
        ``|W|`` instead of the maximum; the weights above it saturate.

    Returns
    -------
    NetworkIR

    Warns
    -----
    QuantizationWarning
        A layer lost more than :data:`LOST_WEIGHTS_WARN_FRACTION` of its non-zero weights.
    """
    if not float_layers:
        raise ValueError(f"network {name!r}: nothing to quantise")
    if weight_clip_percentile is not None and not 0 < weight_clip_percentile <= 100:
        raise ValueError(
            f"weight_clip_percentile must be in (0, 100], got {weight_clip_percentile!r}"
        )
    in_scale, in_lo, in_hi = _input_range(None if calibration is None else np.asarray(calibration))
    quantised = []
    for fl in float_layers:
        w = np.asarray(fl.weight, dtype=np.float64)
        w_int, e = _quantize_weights(w, weight_clip_percentile)
        _warn_if_lost(fl, w, w_int, e, name)
        quantised.append((w_int, e))
    x_int = None
    if calibration is not None:
        x_int = np.clip(np.rint(np.asarray(calibration, dtype=np.float64) / in_scale), in_lo, in_hi)
    layers, scale, scales, x_rms = [], in_scale, [], in_hi / 2.0
    for k, (fl, (w_int, e)) in enumerate(zip(float_layers, quantised)):
        last = k == len(float_layers) - 1
        target = (1 << (output_bits - 1)) - 1 if last else (1 << activation_bits) - 1
        acc_unit = scale * 2.0**e  # float value of one accumulator step
        bias_f = (
            np.zeros(w_int.shape[0]) if fl.bias is None else np.asarray(fl.bias, dtype=np.float64)
        )
        if x_int is not None:
            acc = (
                np.asarray(w_int.astype(np.int64) @ x_int.astype(np.int64).T).T + bias_f / acc_unit
            )
            pre = np.maximum(acc, 0) if fl.relu else acc
            peak = float(np.max(np.abs(pre))) if pre.size else 0.0
        else:
            sigma = _accumulator_sigma(w_int, x_rms)
            peak = 4.0 * sigma + float(np.max(np.abs(bias_f), initial=0.0)) / acc_unit
        shift = _shift_for(peak, target)
        out_scale = acc_unit * 2.0**shift
        bias = np.clip(np.rint(bias_f / out_scale), -PAYLOAD_MAX, PAYLOAD_MAX).astype(np.int32)
        hi = _saturation_bound(quantised[k + 1][0] if not last else None)
        layer = Layer(fl.name, w_int, shift, bias, fl.relu, 0 if fl.relu else -hi, hi, e)
        layers.append(layer)
        scales.append(out_scale)
        if x_int is not None:
            x_int = layer.forward(x_int)
        else:
            x_rms = sigma / 2.0**shift / (math.sqrt(2.0) if fl.relu else 1.0)
        scale = out_scale
    if in_hi > _saturation_bound(layers[0].weights):
        raise ValueError(
            f"network {name!r}: input range {in_hi} would overflow layer 1's accumulator"
        )
    taps = tuple(tap_layers) or (len(layers) - 1,)
    tap_scales = tuple(scales[t] for t in taps)
    if input_layer:
        layers.insert(0, input_relay(layers[0].n_in, in_lo, in_hi))
        taps = tuple(t + 1 for t in taps)
    return NetworkIR(tuple(layers), in_scale, scales[-1], in_lo, in_hi, name, taps, tap_scales)


def input_relay(n: int, lo: int, hi: int) -> Layer:
    """The on-chip input population: ``n`` neurons relaying the quantised input exactly
    (identity weights, shift 0, no bias, identity activation, saturation at ``[lo, hi]``)."""
    return Layer(
        INPUT_LAYER_NAME,
        sps.identity(n, dtype=np.int8, format="csr"),
        0,
        np.zeros(n, dtype=np.int32),
        False,
        lo,
        hi,
        0,
    )


def float_reference(float_layers: Sequence[FloatLayer], x: np.ndarray) -> list[np.ndarray]:
    """Run the float chain (float64) and return every layer's output; for tolerance checks."""
    outs, h = [], np.asarray(x, dtype=np.float64)
    for fl in float_layers:
        h = h @ np.asarray(fl.weight, dtype=np.float64).T
        if fl.bias is not None:
            h = h + fl.bias
        if fl.relu:
            h = np.maximum(h, 0)
        outs.append(h)
    return outs
