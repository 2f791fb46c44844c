"""TVM glue: the ``loihi.*`` patterns, partitioning, codegen to :class:`NetworkIR`, calibration,
lowering to ``call_dps_packed``, the runtime function, artifacts, replay of tuning logs, the ONNX
frontend, and the ``loihi2`` target tags and Relax pipeline (:mod:`.pipeline`, the top).

Bottom to top: ``_compat`` (every version-sensitive TVM call) and ``config`` (:class:`LoihiConfig`),
``codegen``, ``patterns``, ``partition``, ``runtime``, ``calibrate``, ``lower``, ``artifact``,
``frontend``, ``pipeline``, ``replay``. Imports :mod:`tvm_loihi.model`, :mod:`tvm_loihi.lava` (the
``"lava"`` runtime backend, lazily) and :mod:`tvm_loihi.measure.log` (replay only).

Importing this package registers, once per process, the ``loihi.*`` pattern table, the target tags,
the ``loihi2`` pipeline and the runtime function (``import tvm_loihi`` arranges that it is imported
as soon as TVM is).
"""

from __future__ import annotations

from ..model.resources import LoihiCapacityError
from . import _compat, patterns, pipeline, runtime

_compat.register_ffi_error(LoihiCapacityError)  # raised inside the pipeline pass, keeps its type
patterns.register()
pipeline.register()
runtime.register()
