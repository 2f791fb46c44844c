"""Target tags, the ``loihi2`` Relax pipeline, and :class:`LoihiConfig` (hardware parameters).

``tvm.compile(mod, target="loihi2")`` offloads with no other argument: the tag gives an ``llvm``
target with keys ``["loihi2", "cpu"]``, and the default Relax pipeline (wrapped once by
:mod:`tvm_loihi._compat`) runs ``partition_for_loihi`` + ``LowerLoihiToPacked`` first whenever the
current target has the ``loihi2`` key; for any other target it does nothing.
``relax_pipeline="loihi2"`` or ``relax_pipeline=loihi_pipeline(cfg)`` select the same explicitly.

TVM target tags cannot carry custom attributes, so hardware parameters travel in a
:class:`LoihiConfig` (context manager, or argument of :func:`loihi_pipeline`); without one the tag's
``model`` selects the preset:

=================  ==================  =============================
tag                model               hardware preset
=================  ==================  =============================
``loihi2``         ``loihi2``          ``loihi2_1chip``
``loihi2-1chip``   ``loihi2-1chip``    ``loihi2_1chip``
``loihi2-2chip``   ``loihi2-2chip``    ``loihi2_2chip``
``loihi2-kapoho``  ``loihi2-kapoho``   ``kapoho_point`` (8 chips)
=================  ==================  =============================
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import tvm

from . import _compat
from .constants import TARGET_KEY

PIPELINE_NAME = TARGET_KEY
TAG_PRESETS = {
    "loihi2": "loihi2_1chip",
    "loihi2-1chip": "loihi2_1chip",
    "loihi2-2chip": "loihi2_2chip",
    "loihi2-kapoho": "kapoho_point",
}
ON_TOO_LARGE = ("error", "host")
INPUT_LAYERS = ("host", "chip")


@dataclass(frozen=True, eq=False)
class LoihiConfig:
    """Compile-time parameters of the Loihi path.

    Parameters
    ----------
    hardware : str or HardwareSpec, optional
        Preset name (``"loihi2_1chip"``, ``"loihi2_2chip"``, ``"kapoho_point"``) or a spec; default:
        the preset the target tag's model selects (see the module docstring).
    calibration : numpy.ndarray or dict of str to numpy.ndarray, optional
        Typical model inputs ``(n_samples, ...)`` (one array when the model has one input, else a
        dict input name -> array). They fix the quantisation scales at compile time (see
        :mod:`tvm_loihi.calibrate`); without them the weight-based default of
        :mod:`tvm_loihi.model.quantize`.
    on_too_large : {"error", "host"}
        A layer larger than the whole hardware: raise
        :class:`~tvm_loihi.model.resources.LoihiCapacityError`
        (default) or keep it on the host.
    input_layer : {"host", "chip"}
        Where the network input enters. ``"host"`` (default): the host sends every active input
        straight to each of layer 1's cores that has a synapse for it, as Lava's ``PyToNxAdapter``
        connects a host process to a ``Dense``/``Sparse``. ``"chip"``: an on-chip input population
        (an exact relay layer named ``"input"``, as lava-dl netx's ``Input`` block): the host sends
        one message per active input and the fan-out to layer 1 happens on cores the mapper places
        and splits. One pipeline stage deeper; on the one-chip workloads it lets the search cut
        much more latency (docs/results.md). Tuning and compiling must use the same choice (it
        changes the workload key).

    Use as ``with LoihiConfig(...): tvm.compile(mod, target="loihi2")`` or
    ``tvm.compile(mod, target="loihi2", relax_pipeline=loihi_pipeline(LoihiConfig(...)))``.
    """

    hardware: object | None = None
    calibration: object | None = None
    on_too_large: str = "error"
    input_layer: str = "host"

    def __post_init__(self) -> None:
        if self.input_layer not in INPUT_LAYERS:
            raise ValueError(
                f"input_layer must be one of {INPUT_LAYERS}, got {self.input_layer!r}"
            )
        if self.on_too_large not in ON_TOO_LARGE:
            raise ValueError(
                f"on_too_large must be one of {ON_TOO_LARGE}, got {self.on_too_large!r}"
            )
        if isinstance(self.hardware, str):
            resolve_hardware(self.hardware)  # an unknown preset fails here, listing the known ones
        cal = self.calibration
        if cal is not None and not isinstance(cal, dict):
            object.__setattr__(self, "calibration", np.asarray(cal, dtype=np.float32))

    def __enter__(self) -> LoihiConfig:
        _stack().append(self)
        return self

    def __exit__(self, *exc) -> None:
        _stack().pop()


_local = threading.local()


def _stack() -> list[LoihiConfig]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current_config() -> LoihiConfig:
    """The innermost active :class:`LoihiConfig` (a default one when none is active)."""
    stack = _stack()
    return stack[-1] if stack else LoihiConfig()


def resolve_hardware(hardware):
    """A :class:`~tvm_loihi.model.hardware.HardwareSpec` from a preset name or a spec."""
    from .model.hardware import HardwareSpec, get_preset

    if isinstance(hardware, HardwareSpec):
        return hardware
    if isinstance(hardware, str):
        return get_preset(hardware)
    raise TypeError(
        f"hardware must be a preset name or a HardwareSpec, got {type(hardware).__name__}"
    )


def is_loihi_target(target: tvm.target.Target | None) -> bool:
    """True when ``target`` has the ``loihi2`` key."""
    return TARGET_KEY in _compat.target_keys(target)


def hardware_for(config: LoihiConfig, target: tvm.target.Target | None):
    """The hardware spec: the config's, else the preset selected by the target's model string."""
    if config.hardware is not None:
        return resolve_hardware(config.hardware)
    model = _compat.target_model(target)
    return resolve_hardware(TAG_PRESETS.get(model, TAG_PRESETS[TARGET_KEY]))


def offload(mod: tvm.IRModule, config: LoihiConfig | None = None,
            target: tvm.target.Target | None = None) -> tvm.IRModule:
    """Partition and lower ``mod`` for Loihi (the ``loihi2`` pipeline runs this before TVM's)."""
    from .lower import lower_loihi
    from .partition import partition_for_loihi

    config = config or current_config()
    hardware = hardware_for(config, target)
    resolved = LoihiConfig(hardware, config.calibration, config.on_too_large, config.input_layer)
    partitioned = partition_for_loihi(mod, hardware, on_too_large=config.on_too_large)
    return lower_loihi(partitioned, resolved)


def _offload_pass(config: LoihiConfig | None, only_for_loihi_targets: bool) -> tvm.transform.Pass:
    @tvm.transform.module_pass(opt_level=0, name="OffloadToLoihi")
    def _pass(mod: tvm.IRModule, ctx) -> tvm.IRModule:
        target = _compat.current_target()
        if only_for_loihi_targets and not is_loihi_target(target):
            return mod
        return offload(mod, config, target)

    return _pass


def loihi_pipeline(config: LoihiConfig | None = None, **kwargs) -> tvm.transform.Pass:
    """Offload to Loihi, then TVM's default Relax pipeline (registered as ``"loihi2"``).

    Parameters
    ----------
    config : LoihiConfig, optional
        Hardware and calibration; default: the active ``with LoihiConfig(...)`` at compile time.
    **kwargs
        Passed to TVM's default pipeline factory.
    """
    return tvm.transform.Sequential(
        [
            _offload_pass(config, only_for_loihi_targets=False),
            _compat.original_default_pipeline(**kwargs),
        ],
        name="Loihi2Pipeline",
    )


def _default_pre_pass() -> tvm.transform.Pass:
    return _offload_pass(None, only_for_loihi_targets=True)


def register() -> None:
    """Register the tags, the ``loihi2`` pipeline and the default-pipeline hook (idempotent)."""
    for tag, _preset in TAG_PRESETS.items():
        _compat.register_tag(tag, {"kind": "llvm", "keys": [TARGET_KEY, "cpu"], "model": tag})
    _compat.register_pipeline(PIPELINE_NAME, loihi_pipeline)
    _compat.wrap_default_pipeline(_default_pre_pass)
