"""A silicon stand-in measurement backend: the event model with hidden constants, run-to-run noise
and a wall-clock cost per measurement.

Nothing here is real silicon. The stand-in exists so that the hardware loop (search, calibration,
noise handling) can be tested against a "chip" the tuner does not know: a tuner that sees only the
stand-in's measurements cannot read or exploit its model.

* **Hidden constants.** Every assumed timing and energy constant
  (:data:`~tvm_loihi.model.hardware.ASSUMED_CONSTANTS`) is drawn log-uniformly inside its
  documented range (:data:`~tvm_loihi.model.hardware.ASSUMED_RANGES`, else x0.5 - x2 of the
  default) from an explicit ``np.random.Generator`` seeded by the stand-in seed; a draw within 2 %
  of the default is redrawn, so no hidden constant equals its default. Limits and geometry are the
  uploaded spec's, so which mappings are valid does not change.
* **Noise.** Latency and energy are multiplied by independent mean-one log-normal factors with the
  configured coefficient of variation (default 2 %): successive measurements of one mapping differ.
* **Cost.** Each measurement takes at least ``cost_s`` wall-clock seconds (default 0.5 s; the
  remainder is slept, and the sleep is interrupted by the host's SIGALRM time-out).
* **Labels.** Its fidelity is ``"standin"`` (part of every cache key), each result's counters hold
  ``standin = 1`` and ``standin_id`` (a hash that tells stand-ins apart without revealing the seed),
  and the host label starts with ``standin@``. ``version()`` over RPC says backend ``"standin"``
  and nothing about the seed or the constants.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from ..constants import STANDIN_FIDELITY
from ..model.hardware import ASSUMED_CONSTANTS, ASSUMED_RANGES, HardwareSpec
from . import backend
from .host_backend import MeasurementBackend
from .payload import UploadPayload
from .records import MeasureError, MeasureResult
from .runner import Runner

MIN_OFFSET = 0.02  # a hidden constant is never within 2 % of its default


def constant_range(hardware: HardwareSpec, name: str) -> tuple[float, float]:
    """The documented range of assumed constant ``name`` (``"group.field"``) on ``hardware``:
    :data:`~tvm_loihi.model.hardware.ASSUMED_RANGES` where given, else x0.5 - x2 of its value."""
    if name in ASSUMED_RANGES:
        return ASSUMED_RANGES[name]
    group, field_name = name.split(".")
    value = float(getattr(getattr(hardware, group), field_name))
    return 0.5 * value, 2.0 * value


def hidden_names(hardware: HardwareSpec | None = None) -> tuple[str, ...]:
    """The constants a stand-in hides: every assumed continuous timing or energy constant.

    Counts (the link buffer depth, ``timing.link_buffer_msgs``) keep the nominal value: with a
    hidden depth the event model's back-pressure reorders mappings in ways no continuous fit of
    the fast model can follow (held-out Spearman of ``calibrate`` fell from 0.90 to 0.83 on
    mlp_tiny), which would test the buffer model rather than the calibration."""
    hw = hardware if hardware is not None else HardwareSpec()
    return tuple(
        n
        for n in ASSUMED_CONSTANTS
        if n.split(".")[0] in ("timing", "energy") and not _integral(hw, n)
    )


def _integral(hardware: HardwareSpec, name: str) -> bool:
    group, field_name = name.split(".")
    return isinstance(getattr(getattr(hardware, group), field_name), int)


def draw_constants(hardware: HardwareSpec, rng: np.random.Generator) -> dict[str, float]:
    """Log-uniform draws of :func:`hidden_names` inside their ranges, none within 2 % of the
    default.

    Parameters
    ----------
    hardware : HardwareSpec
        Whose values are the defaults (and set the x0.5 - x2 ranges).
    rng : np.random.Generator
        The source of the draws.

    Returns
    -------
    dict
        ``"group.field"`` -> hidden value.
    """
    out = {}
    for name in hidden_names(hardware):
        group, field_name = name.split(".")
        default = float(getattr(getattr(hardware, group), field_name))
        lo, hi = constant_range(hardware, name)
        for _ in range(1000):
            value = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            if default == 0 or abs(value / default - 1.0) >= MIN_OFFSET:
                break
        else:  # a range narrower than +-2 % around the default: take its far end
            value = hi if abs(hi - default) >= abs(lo - default) else lo
        out[name] = value
    return out


def hidden_hardware(hardware: HardwareSpec, seed: int) -> HardwareSpec:
    """``hardware`` with the stand-in's hidden constants for ``seed`` (for tests and benchmarks
    that score a calibration against the truth; a tuner must not call this)."""
    spec = hardware
    for name, value in draw_constants(hardware, np.random.default_rng(seed)).items():
        spec = spec.replace_constant(name, value)
    return spec


def standin_id(seed: int) -> str:
    """A short label that tells stand-ins apart in logs without revealing their seed."""
    return hashlib.sha256(f"tvm_loihi.standin:{int(seed)}".encode()).hexdigest()[:10]


@dataclass(frozen=True)
class StandinConfig:
    """Configuration of a :class:`StandinBackend`.

    Parameters
    ----------
    seed : int
        Seeds the hidden constants (and, with the process, the noise).
    cv : float
        Coefficient of variation of the multiplicative run-to-run noise on latency and energy.
    cost_s : float
        Minimum wall-clock seconds per measurement (the remainder is slept).
    noise_seed : int, optional
        Fixes the noise stream (default: seeded from ``seed`` and the process id, so pool workers
        and RPC sessions do not repeat each other's noise).
    """

    seed: int = 0
    cv: float = 0.02
    cost_s: float = 0.5
    noise_seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"StandinConfig.seed must be an integer >= 0, got {self.seed!r}")
        for name in ("cv", "cost_s"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not math.isfinite(v)
                or v < 0
            ):
                raise ValueError(f"StandinConfig.{name} must be a finite number >= 0, got {v!r}")


class StandinBackend(MeasurementBackend):
    """The silicon stand-in (see the module docstring): fidelity ``"standin"``.

    Parameters
    ----------
    config : StandinConfig, optional
        Seed, noise and cost (default ``StandinConfig()``).
    **kwargs
        Instead of ``config``: its fields (``seed=3, cv=0.02, cost_s=0``).
    """

    name = "standin"
    label = "standin"
    fidelities = (STANDIN_FIDELITY,)

    def __init__(self, config: StandinConfig | None = None, **kwargs) -> None:
        if config is not None and kwargs:
            raise ValueError("StandinBackend: give a StandinConfig or its fields, not both")
        self._config = config if config is not None else StandinConfig(**kwargs)
        self._rng: np.random.Generator | None = None
        self._rng_pid = -1

    def __repr__(self) -> str:  # no seed, no constants
        return "StandinBackend(<hidden>)"

    def _noise_rng(self) -> np.random.Generator:
        pid = os.getpid()
        if self._rng is None or self._rng_pid != pid:  # a fork must not replay its parent's noise
            c = self._config
            extra = c.noise_seed if c.noise_seed is not None else pid
            self._rng = np.random.default_rng([c.seed, 0x5CA1AB1E, int(extra)])
            self._rng_pid = pid
        return self._rng

    def prepare(self, workload):
        """Keep the uploaded workload with its hidden hardware (limits and geometry unchanged)."""
        return workload, hidden_hardware(workload.hardware, self._config.seed)

    def measure(self, prepared, mapping: dict, fidelity: str) -> MeasureResult:
        """Measure one mapping on the hidden event model, with noise, taking at least
        ``cost_s``."""
        start = time.perf_counter()
        w, hidden = prepared
        r = backend.measure(w.network, hidden, w.activity, mapping, "event", host="standin")
        if r.ok:
            r = self._perturb(r)
        remaining = self._config.cost_s - (time.perf_counter() - start)
        if remaining > 0:
            time.sleep(remaining)  # SIGALRM (the host's time-out) interrupts it
        return r

    def _perturb(self, r: MeasureResult) -> MeasureResult:
        cv = self._config.cv
        if cv > 0:
            sigma = math.sqrt(math.log1p(cv * cv))
            f_lat, f_en = np.exp(sigma * self._noise_rng().standard_normal(2) - 0.5 * sigma**2)
        else:
            f_lat = f_en = 1.0
        c = dict(r.counters)
        for key in ("per_sample_latency_s",):
            if key in c:
                c[key] = float(c[key]) * f_lat
        if "throughput_sps" in c:
            c["throughput_sps"] = float(c["throughput_sps"]) / f_lat
        if "energy_total_j" in c:
            c["energy_total_j"] = float(c["energy_total_j"]) * f_en
        c["standin"] = 1
        c["standin_id"] = standin_id(self._config.seed)
        return dataclasses.replace(
            r, latency_s=float(r.latency_s) * f_lat, energy_j=float(r.energy_j) * f_en, counters=c
        )


def make_standin(
    seed: int = 0, cv: float = 0.02, cost_s: float = 0.5, noise_seed: int | None = None
) -> StandinBackend:
    """A :class:`StandinBackend` from its configuration fields."""
    return StandinBackend(StandinConfig(seed, cv, cost_s, noise_seed))


class StandinRunner(Runner):
    """The stand-in measured in this process, synchronously (benchmarks and tests; no RPC).

    Each result is what a ``tvm-loihi serve --backend standin`` host with the same configuration
    returns (fidelity ``"standin"``, hidden constants, noise, the wall-clock cost slept), but
    nothing crosses a socket. Only the ``"standin"`` fidelity is measured.

    Parameters
    ----------
    config : StandinConfig, optional
        Seed, noise and cost (default ``StandinConfig()``).
    memo : bool
        Keep the noise-free hidden-model result of every mapping and draw only the noise on a
        repeat (benchmarks: the same distribution of results, the simulation done once; the
        wall-clock cost is then not slept on repeats).
    **kwargs
        Instead of ``config``: its fields.
    """

    n_parallel = 1

    def __init__(self, config: StandinConfig | None = None, memo: bool = False, **kwargs) -> None:
        self.backend = StandinBackend(config, **kwargs)
        self.host = "local-standin"  # measured in this process: trusted (tuning.confirm)
        self.memo = bool(memo)
        self._prepared: dict[tuple[str, str], object] = {}
        self._quiet: dict[str, MeasureResult] = {}  # input key -> noise-free result (memo)

    def register(self, network, hardware, activity) -> None:
        activity.check_matches(network)
        key = (network.workload_key(), hardware.key())
        if key not in self._prepared:
            self._prepared[key] = self.backend.prepare(UploadPayload(network, hardware, activity))
        self._remember_activity(network, hardware, activity)

    def submit(self, inputs) -> list[concurrent.futures.Future]:
        futures = []
        for inp in inputs:
            fut: concurrent.futures.Future = concurrent.futures.Future()
            prepared = self._prepared.get((inp.workload_key, inp.hardware_key))
            mismatch = self._activity_mismatch(inp, self.host)
            if mismatch is not None:
                res = mismatch
            elif prepared is None:
                res = MeasureResult.failure(
                    MeasureError.UNKNOWN_WORKLOAD,
                    f"workload {inp.workload_key} on hardware {inp.hardware_key} was not "
                    "registered with the stand-in runner",
                    self.host,
                )
            elif inp.fidelity != STANDIN_FIDELITY:
                res = MeasureResult.failure(
                    MeasureError.BAD_PAYLOAD,
                    f"the stand-in runner measures fidelity {STANDIN_FIDELITY!r} only, "
                    f"not {inp.fidelity!r}",
                    self.host,
                )
            elif self.memo:
                res = self._memo_measure(prepared, inp)
            else:
                res = dataclasses.replace(
                    self.backend.measure(prepared, inp.mapping, inp.fidelity), host=self.host
                )
            fut.set_result(res)
            futures.append(fut)
        return futures

    def _memo_measure(self, prepared, inp) -> MeasureResult:
        quiet = self._quiet.get(inp.key())
        if quiet is None:
            w, hidden = prepared
            quiet = backend.measure(w.network, hidden, w.activity, inp.mapping, "event")
            self._quiet[inp.key()] = quiet
        res = self.backend._perturb(quiet) if quiet.ok else quiet
        return dataclasses.replace(res, host=self.host)
