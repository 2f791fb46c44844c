"""tvm_loihi: TVM BYOC plugin running the sparse-MLP parts of a Relax/ONNX model on Intel Loihi 2.

``import tvm_loihi`` registers, in this process: the ``loihi.*`` pattern table, the target tags
(``loihi2``, ``loihi2-1chip``, ``loihi2-2chip``, ``loihi2-kapoho``), the ``loihi2`` Relax pipeline
(and the hook that makes plain ``tvm.compile(mod, target="loihi2")`` offload), and the runtime
function ``tvm_loihi.run_subgraph`` that compiled artifacts call. Every process that builds or loads
a ``loihi2`` artifact must import it first.

The import itself is cheap (no TVM): every public name is resolved on first use (module
``__getattr__``), and the registrations are made by :mod:`tvm_loihi.compiler` as soon as TVM is in
the process -- at once if ``tvm`` is already imported, else right after ``import tvm`` finishes
(a one-shot import hook), whichever module imports it. So ``import tvm_loihi`` before or after
``import tvm`` both work, and the CLI checks its arguments before paying for TVM. Layers and where
to change what: docs/architecture.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first use).
_LAZY = {
    "LoihiCapacityError": "tvm_loihi.model.resources",
    "LoihiConfig": "tvm_loihi.compiler.config",
    "LowerLoihiToPacked": "tvm_loihi.compiler.lower",
    "ReplayWarning": "tvm_loihi.compiler.replay",
    "TuneResult": "tvm_loihi.tuning",
    "apply_best": "tvm_loihi.compiler.replay",
    "QuantizationWarning": "tvm_loihi.model.quantize",
    "RacingOptions": "tvm_loihi.tuning",
    "explain_offload": "tvm_loihi.compiler.partition",
    "extract_networks": "tvm_loihi.compiler.pipeline",
    "load_onnx": "tvm_loihi.compiler.frontend",
    "loihi_pipeline": "tvm_loihi.compiler.pipeline",
    "partition_for_loihi": "tvm_loihi.compiler.partition",
    "read_mappings": "tvm_loihi.compiler.artifact",
    "read_payloads": "tvm_loihi.compiler.artifact",
    "set_backend": "tvm_loihi.compiler.runtime",
    "set_mapping_provider": "tvm_loihi.compiler.config",
    "tune": "tvm_loihi.tuning",
    "use_backend": "tvm_loihi.compiler.runtime",
    "VerifyOptions": "tvm_loihi.tuning",
    "WarmStartOptions": "tvm_loihi.tuning",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tvm_loihi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _RegisterAfterTVM:
    """One-shot ``sys.meta_path`` finder: once ``tvm`` has been executed, import
    :mod:`tvm_loihi.compiler` (whose import registers patterns, tags, pipeline and runtime)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tvm":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec("tvm")
        if spec is None or spec.loader is None:
            return spec
        exec_tvm = spec.loader.exec_module

        def exec_module(module):
            exec_tvm(module)
            importlib.import_module("tvm_loihi.compiler")  # no-op when it is what imports tvm

        spec.loader.exec_module = exec_module
        return spec


if "tvm" in sys.modules:
    importlib.import_module("tvm_loihi.compiler")
else:
    sys.meta_path.insert(0, _RegisterAfterTVM())
