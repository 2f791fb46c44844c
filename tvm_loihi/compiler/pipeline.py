"""Target tags, the ``loihi2`` Relax pipeline and the offload pass: the top of the compiler.

``tvm.compile(mod, target="loihi2")`` offloads with no other argument: the tag gives an ``llvm``
target with keys ``["loihi2", "cpu"]``, and the default Relax pipeline (wrapped once by
:mod:`tvm_loihi.compiler._compat`) runs ``partition_for_loihi`` + ``LowerLoihiToPacked`` first
whenever the current target has the ``loihi2`` key; for any other target it does nothing.
``relax_pipeline="loihi2"`` or ``relax_pipeline=loihi_pipeline(cfg)`` select the same explicitly.

TVM target tags cannot carry custom attributes, so hardware parameters travel in a
:class:`~tvm_loihi.compiler.config.LoihiConfig` (context manager, or argument of
:func:`loihi_pipeline`); without one the tag's ``model`` selects the preset:

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

import tvm

from ..constants import TAG_PRESETS, TARGET_KEY
from ..model.argcheck import check_type
from . import _compat
from .config import INPUT_LAYERS, ON_TOO_LARGE, LoihiConfig, current_config, resolve_hardware
from .lower import lower_loihi
from .partition import partition_for_loihi

PIPELINE_NAME = TARGET_KEY
__all__ = [
    "INPUT_LAYERS",
    "ON_TOO_LARGE",
    "TAG_PRESETS",
    "TARGET_KEY",
    "LoihiConfig",
    "current_config",
    "extract_networks",
    "hardware_for",
    "is_loihi_target",
    "loihi_pipeline",
    "offload",
    "register",
    "resolve_hardware",
]


def is_loihi_target(target: tvm.target.Target | None) -> bool:
    """True when ``target`` has the ``loihi2`` key."""
    return TARGET_KEY in _compat.target_keys(target)


def hardware_for(config: LoihiConfig, target: tvm.target.Target | None):
    """The hardware spec: the config's, else the preset selected by the target's model string."""
    if config.hardware is not None:
        return resolve_hardware(config.hardware)
    model = _compat.target_model(target)
    return resolve_hardware(TAG_PRESETS.get(model, TAG_PRESETS[TARGET_KEY]))


def offload(
    mod: tvm.IRModule, config: LoihiConfig | None = None, target: tvm.target.Target | None = None
) -> tvm.IRModule:
    """Partition and lower ``mod`` for Loihi (the ``loihi2`` pipeline runs this before TVM's)."""
    config = config or current_config()
    if config.mapping_provider is None:  # an explicit config still sees an active apply_best
        config = config.replace(mapping_provider=current_config().mapping_provider)
    hardware = hardware_for(config, target)
    resolved = config.replace(hardware=hardware)
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


def extract_networks(
    mod: tvm.IRModule, target: str = TARGET_KEY, config: LoihiConfig | None = None
) -> list[tuple[object, object]]:
    """The ``(NetworkIR, HardwareSpec)`` pairs a ``loihi2`` build of ``mod`` offloads -- what to
    tune.

    Runs the same partitioning, calibration and codegen as ``tvm.compile(mod, target=target)``
    (with a mapping provider that records what it is asked about), so the workload keys are exactly
    the ones :func:`tvm_loihi.apply_best` looks up at build time.

    Parameters
    ----------
    mod : tvm.IRModule
        The Relax module (e.g. from :func:`tvm_loihi.compiler.frontend.load_onnx`).
    target : str
        A ``loihi2`` target tag (selects the hardware preset unless ``config`` names one).
    config : LoihiConfig, optional
        The build configuration (hardware, calibration, input layer); the current one by default.

    Returns
    -------
    list of (NetworkIR, HardwareSpec)
        In the order the build lowers them; empty when nothing is offloaded.
    """
    if not isinstance(mod, tvm.IRModule):
        raise TypeError(
            f"extract_networks: mod must be a tvm.IRModule (e.g. from "
            f"tvm_loihi.compiler.frontend.load_onnx), got {type(mod).__name__}"
        )
    check_type("extract_networks", "target", target, str, "a loihi2 target tag, e.g. 'loihi2'")
    if config is not None:
        check_type("extract_networks", "config", config, LoihiConfig)
    seen: list[tuple[object, object]] = []

    def record(network, hardware):
        seen.append((network, hardware))

    tvm_target = tvm.target.Target(target)
    config = (config or current_config()).replace(mapping_provider=record)
    offload(mod, config, tvm_target)
    return seen
