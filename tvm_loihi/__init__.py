"""tvm_loihi: TVM BYOC plugin running the sparse-MLP parts of a Relax/ONNX model on Intel Loihi 2.

``import tvm_loihi`` registers, in this process: the ``loihi.*`` pattern table, the target tags
(``loihi2``, ``loihi2-1chip``, ``loihi2-2chip``, ``loihi2-kapoho``), the ``loihi2`` Relax pipeline
(and the hook that makes plain ``tvm.compile(mod, target="loihi2")`` offload), and the runtime
function ``tvm_loihi.run_subgraph`` that compiled artifacts call. Every process that builds or loads
a ``loihi2`` artifact must import it first. Lava is not imported here (it is loaded by the
``"lava"`` backend on use).
"""

from __future__ import annotations

from . import _compat
from . import patterns as _patterns
from . import runtime as _runtime
from . import target as _target
from .artifact import read_mappings, read_payloads
from .lower import LowerLoihiToPacked, set_mapping_provider
from .model.resources import LoihiCapacityError
from .partition import explain_offload, partition_for_loihi
from .replay import apply_best
from .runtime import set_backend, use_backend
from .target import LoihiConfig, loihi_pipeline
from .tune import TuneResult, tune

__version__ = "0.1.0"

__all__ = [
    "LoihiCapacityError",
    "LoihiConfig",
    "LowerLoihiToPacked",
    "TuneResult",
    "apply_best",
    "explain_offload",
    "loihi_pipeline",
    "partition_for_loihi",
    "read_mappings",
    "read_payloads",
    "set_backend",
    "set_mapping_provider",
    "tune",
    "use_backend",
]

_compat.register_ffi_error(LoihiCapacityError)  # raised inside the pipeline pass, keeps its type
_patterns.register()
_target.register()
_runtime.register()
