"""Compile-time configuration of the Loihi path: :class:`LoihiConfig` and the hardware it names.

TVM target tags cannot carry custom attributes, so hardware parameters, calibration samples and the
mapping provider (which mapping to embed per offloaded network, e.g. the best tuned one) travel in a
:class:`LoihiConfig`: a context manager (``with LoihiConfig(...): tvm.compile(...)``) or an argument
of :func:`tvm_loihi.loihi_pipeline`. Configs nest per thread; the innermost one applies, and a
config without a mapping provider inherits the enclosing one's (so ``apply_best`` and a
``LoihiConfig(calibration=...)`` compose in either order).
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..model.hardware import HardwareSpec, get_preset

ON_TOO_LARGE = ("error", "host")
INPUT_LAYERS = ("host", "chip")

# provider(network, hardware) -> mapping JSON (Mapping.to_json()) or None (Lava's default mapping)
MappingProvider = Callable[[object, object], "dict | None"]


@dataclass(frozen=True, eq=False)
class LoihiConfig:
    """Compile-time parameters of the Loihi path.

    Parameters
    ----------
    hardware : str or HardwareSpec, optional
        Preset name (``"loihi2_1chip"``, ``"loihi2_2chip"``, ``"kapoho_point"``) or a spec; default:
        the preset the target tag's model selects (:mod:`tvm_loihi.compiler.pipeline`).
    calibration : numpy.ndarray or dict of str to numpy.ndarray, optional
        Typical model inputs ``(n_samples, ...)`` (one array when the model has one input, else a
        dict input name -> array). They fix the quantisation scales at compile time (see
        :mod:`tvm_loihi.compiler.calibrate`); without them the weight-based default of
        :mod:`tvm_loihi.model.quantize`.
    on_too_large : {"error", "host"}
        A layer larger than the whole hardware: raise
        :class:`~tvm_loihi.model.resources.LoihiCapacityError` (default) or keep it on the host.
    input_layer : {"host", "chip"}
        Where the network input enters. ``"host"`` (default): the host sends every active input
        straight to each of layer 1's cores that has a synapse for it, as Lava's ``PyToNxAdapter``
        connects a host process to a ``Dense``/``Sparse``. ``"chip"``: an on-chip input population
        (an exact relay layer named ``"input"``, as lava-dl netx's ``Input`` block): the host sends
        one message per active input and the fan-out to layer 1 happens on cores the mapper places
        and splits. One pipeline stage deeper; on the one-chip workloads it lets the search cut
        much more latency (docs/results.md). Tuning and compiling must use the same choice (it
        changes the workload key).
    weight_clip_percentile : float, optional
        Take each layer's 8-bit weight step from this percentile (in ``(0, 100]``) of its non-zero
        ``|W|`` instead of the largest one, saturating the few weights above it (see
        :mod:`tvm_loihi.model.quantize`). For models with a few outlier weights that would round
        the rest to zero (a :class:`~tvm_loihi.model.quantize.QuantizationWarning` says so).
        Changes the quantised weights, hence the workload key: tune and compile with the same
        value. Default: the largest ``|W|`` (no clipping).
    mapping_provider : callable, optional
        ``provider(network, hardware) -> dict | None`` asked once per offloaded network at lowering
        time for the mapping to embed (``Mapping.to_json()``), or None for Lava's default mapping.
        :func:`tvm_loihi.apply_best` sets it from a tuning log. Inherited from the enclosing config
        when not given.

    Use as ``with LoihiConfig(...): tvm.compile(mod, target="loihi2")`` or
    ``tvm.compile(mod, target="loihi2", relax_pipeline=loihi_pipeline(LoihiConfig(...)))``.
    """

    hardware: object | None = None
    calibration: object | None = None
    on_too_large: str = "error"
    input_layer: str = "host"
    mapping_provider: MappingProvider | None = None
    weight_clip_percentile: float | None = None

    def __post_init__(self) -> None:
        if self.input_layer not in INPUT_LAYERS:
            raise ValueError(f"input_layer must be one of {INPUT_LAYERS}, got {self.input_layer!r}")
        if self.on_too_large not in ON_TOO_LARGE:
            raise ValueError(
                f"on_too_large must be one of {ON_TOO_LARGE}, got {self.on_too_large!r}"
            )
        clip = self.weight_clip_percentile
        if clip is not None and (
            isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0 < clip <= 100
        ):
            raise ValueError(f"weight_clip_percentile must be a number in (0, 100], got {clip!r}")
        if self.hardware is not None:
            resolve_hardware(self.hardware)  # an unknown preset or a wrong type fails here
        if self.mapping_provider is not None and not callable(self.mapping_provider):
            raise TypeError(
                f"mapping_provider must be callable, got {type(self.mapping_provider).__name__}"
            )
        cal = self.calibration
        if cal is not None and not isinstance(cal, dict):
            object.__setattr__(self, "calibration", np.asarray(cal, dtype=np.float32))

    def replace(self, **changes) -> LoihiConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def __enter__(self) -> LoihiConfig:
        _stack().append(self)
        return self

    def __exit__(self, *exc) -> None:
        _stack().pop()


_local = threading.local()
_process_provider: list[MappingProvider | None] = [None]


def _stack() -> list[LoihiConfig]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current_config() -> LoihiConfig:
    """The innermost active :class:`LoihiConfig` of this thread (a default one when none is
    active), its mapping provider inherited from the enclosing configs when it has none."""
    stack = _stack()
    config = stack[-1] if stack else LoihiConfig()
    if config.mapping_provider is None:
        inherited = next(
            (c.mapping_provider for c in reversed(stack) if c.mapping_provider is not None),
            _process_provider[0],
        )
        if inherited is not None:
            config = config.replace(mapping_provider=inherited)
    return config


def mapping_for(config: LoihiConfig, network, hardware) -> dict | None:
    """The mapping JSON the config's provider gives ``network`` (None: Lava's default)."""
    provider = config.mapping_provider or _process_provider[0]
    return None if provider is None else provider(network, hardware)


def resolve_hardware(hardware) -> HardwareSpec:
    """A :class:`~tvm_loihi.model.hardware.HardwareSpec` from a preset name or a spec."""
    if isinstance(hardware, HardwareSpec):
        return hardware
    if isinstance(hardware, str):
        return get_preset(hardware)
    raise TypeError(
        f"hardware must be a preset name or a HardwareSpec, got {type(hardware).__name__}"
    )


def set_mapping_provider(provider: MappingProvider | None) -> MappingProvider | None:
    """Deprecated process-wide mapping provider (use ``LoihiConfig(mapping_provider=...)``);
    returns the previous one. Used when no active config has a provider."""
    warnings.warn(
        "set_mapping_provider is deprecated: use "
        "`with tvm_loihi.LoihiConfig(mapping_provider=fn):` (or apply_best)",
        DeprecationWarning,
        stacklevel=2,
    )
    old = _process_provider[0]
    _process_provider[0] = provider
    return old
