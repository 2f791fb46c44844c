"""The runtime function every compiled ``loihi2`` artifact calls: ``tvm_loihi.run_subgraph``.

Registered by :func:`register` on ``import tvm_loihi`` -- it must exist before a
``relax.VirtualMachine`` is created (the VM resolves packed functions at init). Called in
destination-passing style as ``run_subgraph(payload_json, x, *network_arrays, *outs)``: the network
is rebuilt from the payload once and cached; ``x`` is quantised with the network's fixed input
scale, run on the selected backend, and each tapped output dequantised into its ``out`` tensor.

Backends (chosen per call, without rebuilding the artifact), highest precedence first:
:func:`use_backend` (context manager), :func:`set_backend`, the environment variable
``TVM_LOIHI_BACKEND``, else ``"reference"``.

* ``"reference"``: :meth:`NetworkIR.run_integer`, the bit-exact numpy executor.
* ``"lava"``: ``tvm_loihi.lava.run_network(network, x_int, mapping=..., timeout_s=...)`` (Lava
imported
  lazily; it forces the ``fork`` start method, so ``import tvm_loihi`` must not import it).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator

import numpy as np

from ..constants import RUNTIME_FUNC
from ..model.mapping import Mapping
from ..model.network import NetworkIR
from . import _compat

BACKENDS = ("reference", "lava")
ENV_BACKEND = "TVM_LOIHI_BACKEND"
ENV_TIMEOUT = "TVM_LOIHI_LAVA_TIMEOUT_S"
DEFAULT_LAVA_TIMEOUT_S = 600.0

_lock = threading.Lock()
_cache: dict[str, tuple[NetworkIR, dict]] = {}
_state = {"backend": None}
_override: list[str] = []


def _validate(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown tvm_loihi backend {name!r}; choose one of {list(BACKENDS)}")
    return name


def set_backend(name: str | None) -> None:
    """Select the backend for later calls (None: back to the environment variable / default)."""
    _state["backend"] = None if name is None else _validate(name)


def current_backend() -> str:
    """The backend the next ``run_subgraph`` call will use."""
    if _override:
        return _override[-1]
    if _state["backend"]:
        return _state["backend"]
    return _validate(os.environ.get(ENV_BACKEND, "reference") or "reference")


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run the enclosed VM calls on backend ``name`` (``"reference"`` or ``"lava"``)."""
    _override.append(_validate(name))
    try:
        yield
    finally:
        _override.pop()


def network_from_payload(
    payload: str, arrays: list[np.ndarray] | None = None
) -> tuple[NetworkIR, dict]:
    """Rebuild (and cache) the network of a payload; returns ``(network, payload_dict)``."""
    with _lock:
        hit = _cache.get(payload)
    if hit is not None:
        return hit
    meta = json.loads(payload)
    if arrays is None:
        raise KeyError("payload not cached yet and no arrays given")
    network = NetworkIR.from_parts(meta["network"], arrays)
    with _lock:
        _cache[payload] = (network, meta)
    return network, meta


def clear_cache() -> None:
    """Forget every rebuilt network (tests; memory)."""
    with _lock:
        _cache.clear()


def _run_lava(network: NetworkIR, x_int: np.ndarray, meta: dict) -> list[np.ndarray]:
    from .. import lava  # lazy: importing Lava changes the multiprocessing start method

    mapping = meta.get("mapping")
    if mapping is not None:
        mapping = Mapping.from_json(mapping)
    timeout_s = float(os.environ.get(ENV_TIMEOUT, DEFAULT_LAVA_TIMEOUT_S))
    # keep_alive: one Lava worker per network serves every VM call (start-up is 1-10 s); closed at
    # exit or by tvm_loihi.lava.close_sessions().
    result = lava.run_network(network, x_int, mapping=mapping, timeout_s=timeout_s, keep_alive=True)
    return list(result.outputs)


def run_network(
    network: NetworkIR, x: np.ndarray, meta: dict | None = None, backend: str | None = None
) -> list[np.ndarray]:
    """Quantise float ``x`` (fixed scale), run on ``backend``, return each tap dequantised."""
    x_int = network.quantize_input(np.asarray(x).reshape(len(x), -1))
    backend = _validate(backend) if backend else current_backend()
    if backend == "lava":
        outs = _run_lava(network, x_int, meta or {})
    else:
        outs = network.run_integer(x_int)
    return [
        (np.asarray(outs[t], dtype=np.float64) * s).astype(np.float32)
        for t, s in zip(network.tap_layers, network.tap_scales)
    ]


def run_subgraph(payload: str, x, *rest) -> None:
    """The packed function behind ``tvm_loihi.run_subgraph`` (destination-passing style)."""
    network, meta = _cached_or_build(str(payload), rest)
    n_arrays = int(meta["n_arrays"])
    outs = rest[n_arrays:]
    if len(outs) != len(network.tap_layers):
        raise ValueError(
            f"network {network.name!r} has {len(network.tap_layers)} outputs, "
            f"the call passed {len(outs)}"
        )
    values = run_network(network, x.numpy(), meta)
    for out, value in zip(outs, values):
        out.copyfrom(value.reshape(tuple(out.shape)).astype(out.dtype))


def _cached_or_build(payload: str, rest) -> tuple[NetworkIR, dict]:
    with _lock:
        hit = _cache.get(payload)
    if hit is not None:
        return hit
    n_arrays = int(json.loads(payload)["n_arrays"])
    return network_from_payload(payload, [t.numpy() for t in rest[:n_arrays]])


def register() -> None:
    """Register ``tvm_loihi.run_subgraph`` in this process (done by ``import tvm_loihi``)."""
    _compat.register_global_func(RUNTIME_FUNC, run_subgraph)
