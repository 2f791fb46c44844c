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
        "change": {metric: relative change best/default - 1},
        "ratio_to_lower_bound": {"default": float, "best": float},
        "runs": [{"strategy", "seed", "evaluations", "cache_hits", "duplicates", "stop_reason",
                  "wall_s",
                  "best_latency_s", "history": [float]}],
        "pareto": [{"latency_s", "energy_j", "cores_used"}]}]}

    METRICS = {"total_latency_s", "per_sample_latency_s", "energy_per_inference_j", "cores_used",
               "chips_used"}
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
    }


def change_of(default: dict, best: dict) -> dict:
    """Relative change ``best / default - 1`` per metric."""
    return {k: (best[k] / default[k] - 1.0) if default[k] else 0.0 for k in METRICS}


def run_of(result) -> dict:
    """The ``runs[]`` entry of one :class:`~tvm_loihi.tune.TuneResult`."""
    return {
        "strategy": result.strategy,
        "seed": int(result.seed),
        "evaluations": int(result.evaluations),
        "cache_hits": int(result.cache_hits),
        "duplicates": int(result.duplicates),
        "stop_reason": result.stop_reason,
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
        _check(net["change"], dict.fromkeys(METRICS, float), f"{where}.change")
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
