"""The offloaded network: quantised layers with the fixed-point semantics shared by every backend.

Fixed-point semantics (the specification; the Lava emitter and the simulator follow it)
----------------------------------------------------------------------------------------
Every layer ``k`` holds sparse signed 8-bit weights ``W`` (out x in), a right shift ``s >= 0``, an
integer bias ``b``, an activation (ReLU or identity) and saturation bounds ``lo <= 0 <= hi``::

    y = clip(act(((W @ x) >> s) + b), lo, hi)

* ``W @ x`` is an exact integer accumulation (``int64`` here), ``>>`` an arithmetic shift (floor),
  done once after the sum -- as Lava's bit-accurate ``Dense``/``Sparse`` models do it.
* The bias is added after the shift, in units of the layer's output.
* ``clip`` saturates to the 24-bit graded-spike payload (``[-2**23, 2**23 - 1]``), tightened where
  needed so that the next layer's 32-bit accumulator cannot wrap (Lava's simulator wraps at 32 bits,
  the chip carries 24-bit payloads; the compiler, not the simulator, enforces the range).
* A neuron whose output is non-zero sends one graded spike;
  that is what the activity profile records.

Float values relate to integers by per-tensor scales fixed at compile time:
``x_float ~= x_int * scale``.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import scipy.sparse as sps

GRADED_SPIKE_BITS = 24  # Lava uses num_message_bits=24 for graded spikes (../shared/LOIHI2.md §1.2)
PAYLOAD_MIN = -(1 << (GRADED_SPIKE_BITS - 1))
PAYLOAD_MAX = (1 << (GRADED_SPIKE_BITS - 1)) - 1
WEIGHT_MIN, WEIGHT_MAX = -128, 127  # 8-bit signed synaptic weights
ACCUMULATOR_LIMIT = (1 << 31) - 1  # Lava's Dense accumulates 2*W*x in int32 and wraps


@dataclass(frozen=True, eq=False)
class Layer:
    """One synapse layer plus its neurons.

    Parameters
    ----------
    name : str
        Human-readable name (from the Relax/ONNX source where known), used in error messages.
    weights : scipy.sparse.csr_matrix
        ``(n_out, n_in)`` int8 weights; explicit zeros are removed.
    shift : int
        Right shift applied to the accumulated ``W @ x`` (``>= 0``).
    bias : numpy.ndarray
        ``(n_out,)`` int32 bias added after the shift.
    relu : bool
        ReLU (True) or identity (False) activation.
    lo, hi : int
        Saturation bounds of the output graded spikes.
    weight_exponent : int
        Power-of-two exponent of the float weights: ``W_float ~= W * 2**weight_exponent``.
    """

    name: str
    weights: sps.csr_matrix
    shift: int
    bias: np.ndarray
    relu: bool
    lo: int = PAYLOAD_MIN
    hi: int = PAYLOAD_MAX
    weight_exponent: int = 0

    def __post_init__(self) -> None:
        w = sps.csr_matrix(self.weights, dtype=np.int8)
        w.eliminate_zeros()
        w.sort_indices()
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", np.asarray(self.bias, dtype=np.int32).reshape(-1))
        if w.ndim != 2:
            raise ValueError(f"layer {self.name!r}: weights must be 2-D, got {w.ndim}-D")
        if self.bias.shape != (w.shape[0],):
            raise ValueError(
                f"layer {self.name!r}: bias has {self.bias.shape[0]} entries, "
                f"layer has {w.shape[0]} neurons"
            )
        if int(self.shift) < 0:
            raise ValueError(f"layer {self.name!r}: shift must be >= 0, got {self.shift}")
        if not (PAYLOAD_MIN <= self.lo <= 0 <= self.hi <= PAYLOAD_MAX):
            raise ValueError(
                f"layer {self.name!r}: saturation [{self.lo}, {self.hi}] must lie inside the "
                f"24-bit graded-spike range [{PAYLOAD_MIN}, {PAYLOAD_MAX}] and contain 0"
            )
        if self.bias.size and (self.bias.min() < PAYLOAD_MIN or self.bias.max() > PAYLOAD_MAX):
            raise ValueError(f"layer {self.name!r}: bias exceeds the 24-bit range")
        object.__setattr__(self, "shift", int(self.shift))
        object.__setattr__(self, "relu", bool(self.relu))
        object.__setattr__(self, "lo", int(self.lo))
        object.__setattr__(self, "hi", int(self.hi))
        object.__setattr__(self, "weight_exponent", int(self.weight_exponent))

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.weights.nnz)

    @property
    def density(self) -> float:
        return self.nnz / max(1, self.n_in * self.n_out)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layer to a batch ``(batch, n_in)`` of integers;
        returns ``(batch, n_out)`` int64."""
        acc = _dense_times_sparse(x, self.weights)
        y = (acc >> self.shift) + self.bias.astype(np.int64)
        if self.relu:
            np.maximum(y, 0, out=y)
        return np.clip(y, self.lo, self.hi, out=y)


def _dense_times_sparse(x: np.ndarray, weights: sps.csr_matrix) -> np.ndarray:
    # Exact integer accumulation: CSR (out x in) times the int64 batch,
    # no float rounding at any size.
    return np.asarray(weights.astype(np.int64) @ np.asarray(x, dtype=np.int64).T).T


@dataclass(frozen=True, eq=False)
class NetworkIR:
    """A quantised feed-forward network offloaded to Loihi (the codegen's output).

    Parameters
    ----------
    layers : tuple of Layer
        The synapse layers in order; ``layers[k].n_in == layers[k-1].n_out``.
    input_scale : float
        ``x_float ~= x_int * input_scale`` for the network input.
    output_scale : float
        ``y_float ~= y_int * output_scale`` for the network output.
    input_lo, input_hi : int
        Range of the quantised input graded spikes (inputs are clipped to it).
    name : str
        Name of the source function (e.g. the Relax function), for messages.
    tap_layers : tuple of int
        Indices of layers whose outputs leave the network (the last layer always does; hidden layers
        whose activation is also used on the host are listed too, in output order).
    tap_scales : tuple of float
        Float scale of each tapped output.
    """

    layers: tuple[Layer, ...]
    input_scale: float = 1.0
    output_scale: float = 1.0
    input_lo: int = -127
    input_hi: int = 127
    name: str = "loihi_net"
    tap_layers: tuple[int, ...] = ()
    tap_scales: tuple[float, ...] = ()
    _key: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        object.__setattr__(self, "layers", layers)
        if not layers:
            raise ValueError(f"network {self.name!r} has no layers")
        for prev, cur in pairwise(layers):
            if cur.n_in != prev.n_out:
                raise ValueError(
                    f"network {self.name!r}: layer {cur.name!r} takes {cur.n_in} inputs but layer "
                    f"{prev.name!r} produces {prev.n_out}"
                )
        taps = tuple(int(t) for t in self.tap_layers) or (len(layers) - 1,)
        scales = tuple(float(s) for s in self.tap_scales) or (float(self.output_scale),) * len(taps)
        if len(scales) != len(taps) or any(not 0 <= t < len(layers) for t in taps):
            raise ValueError(f"network {self.name!r}: bad tap layers {taps}")
        object.__setattr__(self, "tap_layers", taps)
        object.__setattr__(self, "tap_scales", scales)
        if not (PAYLOAD_MIN <= self.input_lo <= self.input_hi <= PAYLOAD_MAX):
            raise ValueError(
                f"network {self.name!r}: bad input range [{self.input_lo}, {self.input_hi}]"
            )

    # -- shape -------------------------------------------------------------------------------------
    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """``(n_in, n_1, ..., n_L)``: input width, then every layer's neuron count."""
        return (self.layers[0].n_in, *(layer.n_out for layer in self.layers))

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def depth(self) -> int:
        return len(self.layers)

    # -- execution ---------------------------------------------------------------------------------
    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float input batch -> integer graded spikes (round half to even,
        then clip to the input range)."""
        q = np.rint(np.asarray(x, dtype=np.float64) / self.input_scale)
        return np.clip(q, self.input_lo, self.input_hi).astype(np.int64)

    def run_integer(self, x_int: np.ndarray) -> list[np.ndarray]:
        """Bit-exact reference executor: every layer's integer output for a batch
        ``(batch, n_in)``."""
        x = np.asarray(x_int, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(
                f"network {self.name!r} expects a (batch, {self.n_inputs}) input, got {x.shape}"
            )
        x = np.clip(x, self.input_lo, self.input_hi)
        outs = []
        for layer in self.layers:
            x = layer.forward(x)
            outs.append(x)
        return outs

    def run_float(self, x: np.ndarray) -> list[np.ndarray]:
        """Quantise ``x``, run the integer network,
        and return each tapped output dequantised (float32)."""
        outs = self.run_integer(self.quantize_input(x))
        return [(outs[t] * s).astype(np.float32) for t, s in zip(self.tap_layers, self.tap_scales)]

    # -- identity and serialisation ----------------------------------------------------------------
    def workload_key(self) -> str:
        """Hash of the structure and every weight/bias value (equal networks hash equal)."""
        if not self._key:
            h = hashlib.sha256()
            h.update(json.dumps(self.meta_json(), sort_keys=True).encode())
            for arr in self.arrays():
                h.update(np.ascontiguousarray(arr).tobytes())
            self._key.append(h.hexdigest()[:16])
        return self._key[0]

    def meta_json(self) -> dict:
        """Everything but the weight arrays, as plain JSON data."""
        return {
            "version": 1,
            "name": self.name,
            "input_scale": self.input_scale,
            "output_scale": self.output_scale,
            "input_lo": self.input_lo,
            "input_hi": self.input_hi,
            "tap_layers": list(self.tap_layers),
            "tap_scales": list(self.tap_scales),
            "layers": [
                {
                    "name": layer.name,
                    "shape": [layer.n_out, layer.n_in],
                    "nnz": layer.nnz,
                    "shift": layer.shift,
                    "relu": layer.relu,
                    "lo": layer.lo,
                    "hi": layer.hi,
                    "weight_exponent": layer.weight_exponent,
                }
                for layer in self.layers
            ],
        }

    def arrays(self) -> list[np.ndarray]:
        """Per layer, in order: CSR ``data`` (int8), ``indices`` (int32), ``indptr`` (int32),
        ``bias`` (int32)."""
        out: list[np.ndarray] = []
        for layer in self.layers:
            w = layer.weights
            out += [
                w.data.astype(np.int8),
                w.indices.astype(np.int32),
                w.indptr.astype(np.int32),
                layer.bias.astype(np.int32),
            ]
        return out

    @classmethod
    def from_parts(cls, meta: dict, arrays: list[np.ndarray]) -> NetworkIR:
        """Rebuild from :meth:`meta_json` and :meth:`arrays`
        (the payload a compiled artifact carries)."""
        if meta.get("version") != 1:
            raise ValueError(f"unsupported NetworkIR version {meta.get('version')!r}")
        layers = []
        for k, spec in enumerate(meta["layers"]):
            data, indices, indptr, bias = (np.asarray(a) for a in arrays[4 * k : 4 * k + 4])
            w = sps.csr_matrix(
                (data.astype(np.int8), indices.astype(np.int32), indptr.astype(np.int32)),
                shape=tuple(spec["shape"]),
            )
            layers.append(
                Layer(
                    spec["name"],
                    w,
                    spec["shift"],
                    bias,
                    spec["relu"],
                    spec["lo"],
                    spec["hi"],
                    spec.get("weight_exponent", 0),
                )
            )
        return cls(
            tuple(layers),
            meta["input_scale"],
            meta["output_scale"],
            meta["input_lo"],
            meta["input_hi"],
            meta["name"],
            tuple(meta["tap_layers"]),
            tuple(meta["tap_scales"]),
        )

    def to_bytes(self) -> bytes:
        """Self-contained ``.npz`` bytes (JSON metadata + arrays); safe to load (no pickle)."""
        return npz_bytes("meta", self.meta_json(), self.arrays())

    @classmethod
    def from_bytes(cls, blob: bytes) -> NetworkIR:
        """Inverse of :meth:`to_bytes`."""
        meta, arrays = npz_load(blob, "meta")
        return cls.from_parts(meta, arrays)

    def save(self, path: str) -> None:
        """Write :meth:`to_bytes` to ``path``."""
        with open(path, "wb") as f:
            f.write(self.to_bytes())

    @classmethod
    def load(cls, path: str) -> NetworkIR:
        """Read a file written by :meth:`save`."""
        with open(path, "rb") as f:
            return cls.from_bytes(f.read())


def npz_bytes(meta_key: str, meta: dict, arrays: list[np.ndarray]) -> bytes:
    """``.npz`` bytes: ``meta`` as JSON under ``meta_key``, ``arrays`` as ``a0, a1, ...``."""
    buf = io.BytesIO()
    text = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(buf, **{meta_key: text}, **{f"a{i}": a for i, a in enumerate(arrays)})
    return buf.getvalue()


def npz_load(blob: bytes, meta_key: str) -> tuple[dict, list[np.ndarray]]:
    """Inverse of :func:`npz_bytes` (no pickle): the JSON metadata and the arrays in order."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        meta = json.loads(z[meta_key].tobytes().decode())
        count = sum(1 for name in z.files if name != meta_key)
        return meta, [z[f"a{i}"] for i in range(count)]
