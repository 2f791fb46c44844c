"""The machine-readable summary of ``tvm-loihi tune --json PATH``: construction and schema check.

Schema (version 1)::

    {"schema": "tvm_loihi.tune_summary", "version": 1,
     "model": str, "hardware": {"name", "key", "n_cores", "n_chips"}, "fidelity": str,
     "objectives": [str], "strategies": [str], "budget": int, "seed": int, "runner": str,
     "log": str | null, "outdir": str, "figures": [str],
     "networks": [{
        "name": str, "workload_key": str, "layer_sizes": [int], "n_samples": int,
        "lower_bound_s": float,
        "default": METRICS, "best": METRICS, "best_strategy": str, "best_mapping": Mapping JSON,
        "change": {metric: relative change best/default - 1 (null where a metric is null)},
        "energy_sign_differs": bool | null,
        "ratio_to_lower_bound": {"default": float, "best": float},
        "runs": [{"strategy", "seed", "evaluations", "hardware_evaluations",
                  "model_evaluations", "cache_hits", "duplicates", "stop_reason", "wall_s",
                  (hardware_evaluations: measurements and log hits; model_evaluations: simulator
                   calls of a model-based strategy, never measurements; both optional when
                   reading a summary written before they existed; also verify_evaluations and
                   verify_repeats: the verify step's measurements, races included, outside the
                   budget)
                  "best_latency_s", "history": [float]}],
        "pareto": [{"latency_s", "energy_j", "cores_used"}]}]}

    METRICS = {"total_latency_s", "per_sample_latency_s", "energy_per_inference_j", "cores_used",
               "chips_used", "energy_per_inference_board_j" (float or null)}

Energy per inference is reported two ways. ``energy_per_inference_j`` charges static power for the
*used* chips only (Lava's convention: lava-dl subtracts idle chips' static power arithmetically);
``energy_per_inference_board_j`` charges it for every chip of the board (unused chips are not
power-gated on Kapoho Point, so that is what the board draws). On one chip they are equal; on a
multi-chip board a mapping that spreads onto more chips can raise the first and lower the second.
``energy_sign_differs`` is true when the two changes vs the Lava default have opposite signs (the
evidence then leaves the sign of the energy effect open). The board figure is null for results
whose backend does not report it (the ``energy_per_inference_board_j`` counter of
:func:`tvm_loihi.measure.backend.simulate`), e.g. records of older tuning logs.
"""

from __future__ import annotations

import math
from numbers import Real

SUMMARY_SCHEMA = "tvm_loihi.tune_summary"
SUMMARY_VERSION = 1

METRICS = {
    "total_latency_s": float,
    "per_sample_latency_s": float,
    "energy_per_inference_j": float,
    "cores_used": int,
    "chips_used": int,
}
# metrics that may be null (a backend or an old log record without the counter)
OPTIONAL_METRICS = {"energy_per_inference_board_j": float}
_TOP = {
    "schema": str,
    "version": int,
    "model": str,
    "hardware": dict,
    "fidelity": str,
    "objectives": list,
    "strategies": list,
    "budget": int,
    "seed": int,
    "runner": str,
    "outdir": str,
    "figures": list,
    "networks": list,
}
_NETWORK = {
    "name": str,
    "workload_key": str,
    "layer_sizes": list,
    "n_samples": int,
    "lower_bound_s": float,
    "default": dict,
    "best": dict,
    "best_strategy": str,
    "best_mapping": dict,
    "change": dict,
    "ratio_to_lower_bound": dict,
    "runs": list,
    "pareto": list,
}
_RUN = {
    "strategy": str,
    "seed": int,
    "evaluations": int,
    "cache_hits": int,
    "duplicates": int,
    "stop_reason": str,
    "wall_s": float,
    "best_latency_s": float,
    "history": list,
}
_HARDWARE = {"name": str, "key": str, "n_cores": int, "n_chips": int}


def metrics_of(result) -> dict:
    """The compared figures of a successful :class:`~tvm_loihi.measure.records.MeasureResult`."""
    c = result.counters
    return {
        "total_latency_s": float(result.latency_s),
        "per_sample_latency_s": float(c["per_sample_latency_s"]),
        "energy_per_inference_j": float(result.energy_j),
        "cores_used": int(c["cores_used"]),
        "chips_used": int(c["chips_used"]),
        "energy_per_inference_board_j": (
            float(c["energy_per_inference_board_j"])
            if c.get("energy_per_inference_board_j") is not None
            else None
        ),
    }


def change_of(default: dict, best: dict) -> dict:
    """Relative change ``best / default - 1`` per metric (None where either value is missing)."""
    out = {}
    for k in (*METRICS, *OPTIONAL_METRICS):
        d, b = default.get(k), best.get(k)
        out[k] = None if d is None or b is None else (b / d - 1.0) if d else 0.0
    return out


def energy_sign_differs(change: dict) -> bool | None:
    """Whether the energy changes per used chip and per board (see :func:`change_of`) have
    opposite signs; None when the board figure is missing.

    Parameters
    ----------
    change : dict
        Output of :func:`change_of`.

    Returns
    -------
    bool or None
    """
    chip, board = change.get("energy_per_inference_j"), change.get("energy_per_inference_board_j")
    if chip is None or board is None:
        return None
    return (chip > 0 > board) or (chip < 0 < board)


def run_of(result) -> dict:
    """The ``runs[]`` entry of one :class:`~tvm_loihi.tune.TuneResult`."""
    return {
        "strategy": result.strategy,
        "seed": int(result.seed),
        "evaluations": int(result.evaluations),
        "hardware_evaluations": int(getattr(result, "hardware_evaluations", result.evaluations)),
        "model_evaluations": int(getattr(result, "model_evaluations", 0)),
        "cache_hits": int(result.cache_hits),
        "duplicates": int(result.duplicates),
        "stop_reason": result.stop_reason,
        "repeats": int(getattr(result, "repeats", 0)),
        "noise": getattr(result, "noise", None),
        "warm_seeds": int(getattr(result, "warm_seeds", 0)),
        "verify_evaluations": int(getattr(result, "verify_evaluations", 0)),
        "verify_repeats": int(getattr(result, "verify_repeats", 0)),
        "wall_s": float(result.wall_s),
        "best_latency_s": float(result.best_result.latency_s),
        "history": [float(v) for v in result.history],
    }


def _check(obj, spec: dict, where: str) -> None:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
    missing = sorted(set(spec) - set(obj))
    if missing:
        raise ValueError(f"{where}: missing keys {missing}")
    for key, typ in spec.items():
        value = obj[key]
        ok = (
            isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
            if typ is float
            else isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        )
        if not ok:
            raise ValueError(f"{where}.{key}: expected {typ.__name__}, got {value!r:.60}")


def _check_optional(obj: dict, spec: dict, where: str) -> None:
    present = {k: t for k, t in spec.items() if obj.get(k) is not None}
    _check({k: obj[k] for k in present}, present, where)


def validate_summary(summary: dict) -> dict:
    """Check a summary against the schema above; return it, or raise ValueError naming the field."""
    _check(summary, _TOP, "summary")
    if summary["schema"] != SUMMARY_SCHEMA or summary["version"] != SUMMARY_VERSION:
        raise ValueError(
            f"summary: schema {summary['schema']!r} v{summary['version']} is not "
            f"{SUMMARY_SCHEMA!r} v{SUMMARY_VERSION}"
        )
    _check(summary["hardware"], _HARDWARE, "summary.hardware")
    if not summary["networks"]:
        raise ValueError("summary.networks: empty")
    for i, net in enumerate(summary["networks"]):
        where = f"summary.networks[{i}]"
        _check(net, _NETWORK, where)
        for part in ("default", "best"):
            _check(net[part], METRICS, f"{where}.{part}")
            _check_optional(net[part], OPTIONAL_METRICS, f"{where}.{part}")
        _check(net["change"], dict.fromkeys(METRICS, float), f"{where}.change")
        _check_optional(net["change"], OPTIONAL_METRICS, f"{where}.change")
        _check(
            net["ratio_to_lower_bound"],
            {"default": float, "best": float},
            f"{where}.ratio_to_lower_bound",
        )
        if not net["runs"]:
            raise ValueError(f"{where}.runs: empty")
        for j, run in enumerate(net["runs"]):
            _check(run, _RUN, f"{where}.runs[{j}]")
        for j, point in enumerate(net["pareto"]):
            _check(
                point,
                {"latency_s": float, "energy_j": float, "cores_used": int},
                f"{where}.pareto[{j}]",
            )
    return summary
