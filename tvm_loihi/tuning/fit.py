"""Fit the simulator's assumed per-event constants to measured records of a tuning log.

:func:`calibrate` takes the successful records of a log (any fidelity or backend: the silicon
stand-in, a real chip, another simulator) for the given networks on the given hardware, holds out a
share of them, and fits

* the assumed **timing** constants to the measured total latency: bounded robust regression
  (``scipy.optimize.least_squares``, ``loss="soft_l1"``) of log latency, with the simulator (fast
  model by default) evaluated on candidate constants and the Jacobian by finite differences (the
  model is max-affine, so it is piecewise linear in the constants);
* the assumed **energy** constants to the measured energy per inference, the same way: energy is
  linear in them given the model's event counts and the measured latency (static power x time).

Every constant stays inside its documented range (:func:`~tvm_loihi.measure.standin.constant_range`:
``ASSUMED_RANGES``, else x0.5 - x2). Fit quality is reported on the held-out records before
(default constants) and after (Spearman rank correlation, median relative error), and each
constant is marked identified or not from the Jacobian at the solution: a constant the measurements
hardly move (RMS elasticity d log y / d log c below :data:`MIN_ELASTICITY`) or that lies in a
near-null direction of the Jacobian (singular value below :data:`MIN_SINGULAR` of the largest) is
not identified and keeps its default value.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..measure.log import TuningLog
from ..measure.standin import constant_range
from ..model.activity import ActivityProfile
from ..model.hardware import ASSUMED_CONSTANTS, HardwareSpec
from ..model.mapping import Mapping
from ..model.network import NetworkIR
from ..sim.api import evaluate
from ..sim.energy import dynamic_energy
from .defaults import default_activity

MIN_RECORDS = 8  # fewer successful records than this: refuse
FEW_RECORDS = 40  # fewer than this: warn that the fit is weakly determined
MIN_ELASTICITY = 0.01  # RMS d log y / d log c below this: the data cannot see the constant
MIN_SINGULAR = 1e-2  # singular values below this share of the largest span unidentified directions
PROGRESS_S = 5.0  # calibrate(progress=...) is called at most this often

# For each assumed energy constant: the event count (of dynamic_energy's counts) it multiplies.
_ENERGY_COUNTS = {
    "energy.msg_out_j": "axon_out",
    "energy.spike_out_j": "spikes",
    "energy.chip_crossing_j": "chip_crossings",
}


@dataclass(frozen=True)
class FitQuality:
    """How well a spec predicts held-out measurements."""

    spearman: float
    median_rel_error: float

    def to_json(self) -> dict:
        return {"spearman": self.spearman, "median_rel_error": self.median_rel_error}


@dataclass(frozen=True)
class ConstantFit:
    """One fitted constant: default, fitted value, its bounds, and whether the data identified it
    (``elasticity``: RMS over training records of d log y / d log c at the solution)."""

    name: str
    default: float
    fitted: float
    lower: float
    upper: float
    elasticity: float
    identified: bool

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "default": self.default,
            "fitted": self.fitted,
            "lower": self.lower,
            "upper": self.upper,
            "elasticity": self.elasticity,
            "identified": self.identified,
        }


@dataclass(frozen=True)
class CalibrationFit:
    """The result of :func:`calibrate`.

    ``hardware`` is the fitted spec (save it with ``hardware.save(path)``; it loads everywhere a
    preset is accepted). ``latency_before``/``latency_after`` and ``energy_before``/
    ``energy_after`` are held-out quality with the default and the fitted constants.
    """

    hardware: HardwareSpec
    constants: tuple[ConstantFit, ...]
    n_train: int
    n_test: int
    latency_before: FitQuality
    latency_after: FitQuality
    energy_before: FitQuality
    energy_after: FitQuality
    model: str
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "hardware": self.hardware.name,
            "hardware_key": self.hardware.key(),
            "model": self.model,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "latency": {
                "before": self.latency_before.to_json(),
                "after": self.latency_after.to_json(),
            },
            "energy": {
                "before": self.energy_before.to_json(),
                "after": self.energy_after.to_json(),
            },
            "constants": [c.to_json() for c in self.constants],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class _Sample:
    network: NetworkIR
    activity: ActivityProfile
    mapping: Mapping
    latency_s: float
    energy_j: float


def _value(hw: HardwareSpec, name: str) -> float:
    group, field_name = name.split(".")
    return float(getattr(getattr(hw, group), field_name))


def _quality(pred: np.ndarray, meas: np.ndarray) -> FitQuality:
    from scipy.stats import spearmanr

    rho = float(spearmanr(pred, meas).statistic) if len(pred) > 2 else float("nan")
    return FitQuality(rho, float(np.median(np.abs(pred - meas) / meas)))


def _samples(
    log,
    hardware: HardwareSpec,
    pairs: list[tuple[NetworkIR, ActivityProfile]],
    fidelity: str | None,
) -> list[_Sample]:
    by_key = {(n.workload_key(), hardware.key()): (n, a) for n, a in pairs}
    out = []
    if isinstance(log, (str, os.PathLike)):
        log = TuningLog(str(log))
    if isinstance(log, TuningLog):
        records, is_rejected = log.records(), log.is_rejected  # every sample of a repeat counts
    else:  # records in memory (objects with .input and .result, e.g. LogRecord): all accepted
        records, is_rejected = list(log), None
    for r in records:
        key = (r.input.workload_key, r.input.hardware_key)
        if not r.result.ok or key not in by_key or (is_rejected and is_rejected(r)):  # a lie
            continue
        if fidelity is not None and r.input.fidelity != fidelity:
            continue
        net, act = by_key[key]
        out.append(
            _Sample(
                net,
                act,
                Mapping.from_json(r.input.mapping),
                float(r.result.latency_s),
                float(r.result.energy_j),
            )
        )
    return out


def _latencies(samples: Sequence[_Sample], hw: HardwareSpec, model: str) -> np.ndarray:
    return np.array(
        [
            evaluate(s.network, s.mapping, hw, s.activity, model, validate=False).total_latency_s
            for s in samples
        ]
    )


def _energy_terms(
    samples: Sequence[_Sample], hw: HardwareSpec, model: str, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the energy per inference of everything but ``names`` (fixed), and the
    coefficient of each name (so energy = fixed + X @ values); static power x MEASURED latency."""
    fixed, X = [], []
    for s in samples:
        m = evaluate(s.network, s.mapping, hw, s.activity, model, validate=False)
        counts = dict(m.counters)
        dyn = dynamic_energy(hw.energy, counts)
        n = m.n_samples
        coef = []
        for name in names:
            if name == "energy.static_w_per_chip":
                coef.append(m.chips_used * s.latency_s / n)
            else:
                coef.append(float(counts.get(_ENERGY_COUNTS[name], 0.0)) / n)
        power = hw.energy.static_w_per_chip + hw.energy.running_w_per_chip
        total = sum(dyn.values()) / n + m.chips_used * power * s.latency_s / n
        fixed.append(total - float(np.dot(coef, [_value(hw, c) for c in names])))
        X.append(coef)
    return np.array(fixed), np.array(X)


def _identify(J: np.ndarray, span: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RMS elasticities and an identified mask from the Jacobian in unit coordinates."""
    elasticity = np.sqrt(np.mean((J / span[None, :]) ** 2, axis=0))
    ok = elasticity >= MIN_ELASTICITY
    if ok.any():
        _, s, vt = np.linalg.svd(J[:, ok] / span[None, ok], full_matrices=False)
        weak = s < MIN_SINGULAR * s.max()
        if weak.any():
            loading = np.abs(vt[weak]).max(axis=0)
            sub = np.flatnonzero(ok)
            ok[sub[loading > 0.5]] = False
    return elasticity, ok


def _fit_group(
    residuals, x0: np.ndarray, span: np.ndarray, lo_log: np.ndarray, max_nfev: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Screen (one finite-difference Jacobian at ``x0``: constants the data cannot see are not
    fitted), then bounded soft-L1 least squares over the rest, in unit coordinates."""
    from scipy.optimize import least_squares

    step = 0.05
    r0 = residuals(x0)
    J0 = np.empty((len(r0), len(x0)))
    for j in range(len(x0)):
        h = step if x0[j] + step <= 1 else -step
        x = x0.copy()
        x[j] += h
        J0[:, j] = (residuals(x) - r0) / h
    active = np.sqrt(np.mean((J0 / span[None, :]) ** 2, axis=0)) >= MIN_ELASTICITY
    x_best, J = x0.copy(), J0
    if active.any():

        def sub(z):
            x = x0.copy()
            x[active] = z
            return residuals(x)

        res = least_squares(
            sub,
            x0[active],
            bounds=(0.0, 1.0),
            loss="soft_l1",
            f_scale=0.05,
            diff_step=step,
            max_nfev=max_nfev,
            ftol=1e-4,
            xtol=1e-4,
        )
        x_best[active] = res.x
        J = np.zeros_like(J0)
        J[:, active] = res.jac
    elasticity, identified = _identify(J, span)
    return np.exp(lo_log + x_best * span), elasticity, identified


def _keep_fits(
    fits: dict,
    spec: HardwareSpec,
    hardware: HardwareSpec,
    names: Sequence[str],
    values: np.ndarray,
    elasticity: np.ndarray,
    identified: np.ndarray,
) -> HardwareSpec:
    """Record one group's :class:`ConstantFit` s in ``fits`` and return ``spec`` with the
    identified constants set (the others keep ``hardware``'s value)."""
    for c, v, el, ok in zip(names, values, elasticity, identified, strict=True):
        lo, hi = constant_range(hardware, c)
        fitted = float(v) if ok else _value(hardware, c)
        fits[c] = ConstantFit(c, _value(hardware, c), fitted, lo, hi, float(el), bool(ok))
        spec = spec.replace_constant(c, fitted)
    return spec


def calibrate(
    log,
    hardware: HardwareSpec,
    networks: NetworkIR | Sequence[NetworkIR],
    activities: ActivityProfile | Sequence[ActivityProfile] | None = None,
    *,
    fidelity: str | None = None,
    holdout: float = 0.25,
    seed: int = 0,
    model: str = "fast",
    max_records: int = 200,
    name: str | None = None,
    fit_energy: bool = True,
    max_nfev: int = 10,
    progress: Callable[[str], None] | None = None,
) -> CalibrationFit:
    """Fit ``hardware``'s assumed constants to the measured records of ``log``.

    Parameters
    ----------
    log : str, TuningLog or sequence of LogRecord
        The tuning log (JSON lines) holding the measurements, or its records in memory (objects
        with ``.input`` and ``.result``; the surrogate strategy passes its measurements so).
    hardware : HardwareSpec
        The spec the records were tuned for (records are matched by its key) and the start point.
    networks : NetworkIR or sequence of NetworkIR
        The networks whose records to use (a log keeps only their workload keys).
    activities : ActivityProfile or sequence, optional
        Their spike activity (default: :func:`~tvm_loihi.tuning.driver.default_activity`, what
        ``tune`` measured with).
    fidelity : str, optional
        Use only records measured at this fidelity (default: all).
    holdout : float
        Share of records held out for the quality report (seeded split).
    seed : int
        Seeds the split and the choice of at most ``max_records`` training records.
    model : {"fast", "event"}
        The simulator fidelity fitted.
    max_records : int
        Training records used at most (each costs one simulation per Jacobian column).
    name : str, optional
        Name of the fitted spec (default ``<hardware.name>_fitted``).
    fit_energy : bool
        Also fit the energy constants (default). With False they keep ``hardware``'s values and
        the energy quality is reported as NaN (for records whose energy was not measured).
    max_nfev : int
        Model evaluations of the least-squares solver per constant group at most (each a
        finite-difference Jacobian over the training records; lower it for the event model).
    progress : callable, optional
        Called with a one-line status (passes over the training records so far, elapsed time)
        at most every :data:`PROGRESS_S` seconds while the timing constants are fitted: an
        event-model fit of 100 records takes minutes.

    Returns
    -------
    CalibrationFit

    Raises
    ------
    ValueError
        Fewer than :data:`MIN_RECORDS` usable records.
    """

    nets = [networks] if isinstance(networks, NetworkIR) else list(networks)
    if activities is None:
        acts = [default_activity(n, hardware) for n in nets]
    else:
        acts = [activities] if isinstance(activities, ActivityProfile) else list(activities)
    samples = _samples(log, hardware, list(zip(nets, acts, strict=True)), fidelity)
    notes: list[str] = []
    if len(samples) < MIN_RECORDS:
        raise ValueError(
            f"calibrate: {len(samples)} usable records of {[n.name for n in nets]} on hardware "
            f"{hardware.name} ({hardware.key()}) in the log; need at least {MIN_RECORDS} "
            "(tune with a larger --budget, or check --hardware and the model match the log)"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(samples))
    n_test = max(1, round(holdout * len(samples))) if holdout > 0 else 0
    test = [samples[i] for i in order[:n_test]] if n_test else []
    train = [samples[i] for i in order[n_test:]][:max_records]
    if len(train) < FEW_RECORDS:
        notes.append(f"only {len(train)} training records: the fit is weakly determined")
        warnings.warn(f"calibrate: {notes[-1]}", stacklevel=2)

    # continuous constants only: a count such as the link buffer depth is not a least-squares
    # variable (it keeps the hardware's value)
    assumed = [
        c
        for c in ASSUMED_CONSTANTS
        if c.split(".")[0] in ("timing", "energy")
        and isinstance(getattr(getattr(hardware, c.split(".")[0]), c.split(".")[1]), float)
    ]
    t_names = [c for c in assumed if c.startswith("timing.")]
    e_names = [c for c in assumed if c.startswith("energy.")]
    fits: dict[str, ConstantFit] = {}
    spec = hardware

    # --- timing: log latency, simulator on candidate constants
    meas_lat = np.array([s.latency_s for s in train])
    bounds = np.array([[math.log(b) for b in constant_range(hardware, c)] for c in t_names])
    lo_log, span = bounds[:, 0], bounds[:, 1] - bounds[:, 0]

    def spec_of(x):
        h = hardware
        for c, v in zip(t_names, np.exp(lo_log + np.clip(x, 0, 1) * span), strict=True):
            h = h.replace_constant(c, float(v))
        return h

    started = last_note = time.monotonic()
    passes = 0

    def lat_residuals(x):
        nonlocal passes, last_note
        out = np.log(_latencies(train, spec_of(x), model)) - np.log(meas_lat)
        passes += 1
        now = time.monotonic()
        if progress is not None and now - last_note >= PROGRESS_S:
            last_note = now
            progress(
                f"timing fit: {passes} passes over {len(train)} records on the {model} model, "
                f"{now - started:.0f} s"
            )
        return out

    x0 = np.clip((np.log([_value(hardware, c) for c in t_names]) - lo_log) / span, 1e-6, 1 - 1e-6)
    spec = _keep_fits(
        fits, spec, hardware, t_names, *_fit_group(lat_residuals, x0, span, lo_log, max_nfev)
    )

    # --- energy: linear in the constants given the fitted model's counts and measured latency
    if fit_energy:
        meas_en = np.array([s.energy_j for s in train])
        fixed, X = _energy_terms(train, spec, model, e_names)
        eb = np.array([[math.log(b) for b in constant_range(hardware, c)] for c in e_names])
        e_lo, e_span = eb[:, 0], eb[:, 1] - eb[:, 0]

        def en_residuals(x):
            return np.log(fixed + X @ np.exp(e_lo + np.clip(x, 0, 1) * e_span)) - np.log(meas_en)

        e0 = np.clip(
            (np.log([_value(hardware, c) for c in e_names]) - e_lo) / e_span, 1e-6, 1 - 1e-6
        )
        spec = _keep_fits(
            fits, spec, hardware, e_names, *_fit_group(en_residuals, e0, e_span, e_lo)
        )
    else:
        zero = np.zeros(len(e_names))  # not fitted: elasticity 0, not identified, default kept
        spec = _keep_fits(fits, spec, hardware, e_names, zero, zero, zero.astype(bool))

    import dataclasses

    spec = dataclasses.replace(spec, name=name or f"{hardware.name}_fitted")
    quality = []
    for h in (hardware, spec):
        if test:
            lat = _latencies(test, h, model)
            if not fit_energy:
                quality.append(
                    (
                        _quality(lat, np.array([s.latency_s for s in test])),
                        FitQuality(float("nan"), float("nan")),
                    )
                )
                continue
            en = np.array(
                [
                    evaluate(
                        s.network, s.mapping, h, s.activity, model, validate=False
                    ).energy_per_inference_j
                    for s in test
                ]
            )
            quality.append(
                (
                    _quality(lat, np.array([s.latency_s for s in test])),
                    _quality(en, np.array([s.energy_j for s in test])),
                )
            )
        else:
            quality.append((FitQuality(float("nan"), float("nan")),) * 2)
    return CalibrationFit(
        spec,
        tuple(fits[c] for c in assumed),
        len(train),
        len(test),
        quality[0][0],
        quality[1][0],
        quality[0][1],
        quality[1][1],
        model,
        tuple(notes),
    )


def format_fit(fit: CalibrationFit) -> str:
    """The fit as a text table: quality before/after, then one row per constant."""
    lines = [
        f"calibration on {fit.n_train} training / {fit.n_test} held-out records "
        f"({fit.model} model):",
        f"{'held-out':10s} {'Spearman before':>16s} {'after':>8s} "
        f"{'median rel. err before':>23s} {'after':>8s}",
    ]
    for what, b, a in (
        ("latency", fit.latency_before, fit.latency_after),
        ("energy", fit.energy_before, fit.energy_after),
    ):
        lines.append(
            f"{what:10s} {b.spearman:16.3f} {a.spearman:8.3f} "
            f"{b.median_rel_error:23.2%} {a.median_rel_error:8.2%}"
        )
    lines.append(
        f"{'constant':28s} {'default':>10s} {'fitted':>10s} {'range':>21s} "
        f"{'elasticity':>10s}  identified"
    )
    for c in fit.constants:
        lines.append(
            f"{c.name:28s} {c.default:10.3g} {c.fitted:10.3g} "
            f"{c.lower:10.3g}-{c.upper:<10.3g} {c.elasticity:10.3f}  "
            f"{'yes' if c.identified else 'no (kept default)'}"
        )
    lines += [f"warning: {w}" for w in fit.warnings]
    return "\n".join(lines)
