"""tvm_loihi: TVM BYOC plugin running the sparse-MLP parts of a Relax/ONNX model on Intel Loihi 2.

``import tvm_loihi`` registers, in this process: the ``loihi.*`` pattern table, the target tags
(``loihi2``, ``loihi2-1chip``, ``loihi2-2chip``, ``loihi2-kapoho``), the ``loihi2`` Relax pipeline
(and the hook that makes plain ``tvm.compile(mod, target="loihi2")`` offload), and the runtime
function ``tvm_loihi.run_subgraph`` that compiled artifacts call. Every process that builds or loads
a ``loihi2`` artifact must import it first. It loads only the compiler and the model (no search,
tuning or measurement code, no Lava): :func:`tune`, :class:`TuneResult`, :func:`apply_best` and
:class:`ReplayWarning` are imported on first use. Layers and where to change what:
docs/architecture.md.
"""

from __future__ import annotations

import importlib

from .compiler import _compat
from .compiler import patterns as _patterns
from .compiler import pipeline as _pipeline
from .compiler import runtime as _runtime
from .compiler.artifact import read_mappings, read_payloads
from .compiler.config import LoihiConfig, set_mapping_provider
from .compiler.frontend import load_onnx
from .compiler.lower import LowerLoihiToPacked
from .compiler.partition import explain_offload, partition_for_loihi
from .compiler.pipeline import extract_networks, loihi_pipeline
from .compiler.runtime import set_backend, use_backend
from .model.resources import LoihiCapacityError

__version__ = "0.1.0"

# Public names loaded on first use (they pull in the tuning log, the search or the measurement).
_LAZY = {
    "tune": "tvm_loihi.tuning",
    "TuneResult": "tvm_loihi.tuning",
    "apply_best": "tvm_loihi.compiler.replay",
    "ReplayWarning": "tvm_loihi.compiler.replay",
    "QuantizationWarning": "tvm_loihi.model.quantize",
}

__all__ = [
    "LoihiCapacityError",
    "LoihiConfig",
    "LowerLoihiToPacked",
    "QuantizationWarning",
    "ReplayWarning",
    "TuneResult",
    "apply_best",
    "explain_offload",
    "extract_networks",
    "load_onnx",
    "loihi_pipeline",
    "partition_for_loihi",
    "read_mappings",
    "read_payloads",
    "set_backend",
    "set_mapping_provider",
    "tune",
    "use_backend",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tvm_loihi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


_compat.register_ffi_error(LoihiCapacityError)  # raised inside the pipeline pass, keeps its type
_patterns.register()
_pipeline.register()
_runtime.register()
