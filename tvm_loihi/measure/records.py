"""Measurement records: what is measured (:class:`MeasureInput`) and what came back
(:class:`MeasureResult`).

Small immutable values that cross processes and files as JSON (never pickle). Errors are a
:class:`MeasureError` enum plus a message -- never a sentinel number.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any


class MeasureError(enum.Enum):
    """Why a measurement produced no figures (``NO_ERROR`` when it did)."""

    NO_ERROR = "no_error"
    INVALID_MAPPING = "invalid_mapping"  # violates a per-core limit or does not fit the hardware
    BAD_PAYLOAD = "bad_payload"  # malformed / oversized request
    RUNTIME_ERROR = "runtime_error"  # the backend raised
    TIMEOUT = "timeout"
    HOST_LOST = "host_lost"  # the measurement host died or the session broke
    UNKNOWN_WORKLOAD = "unknown_workload"  # host has not been sent this network
    REJECTED = "rejected"  # the client's checks refused the host's answer (measure/checks.py)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, no spaces):
    equal values give equal strings and hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class MeasureInput:
    """One candidate to measure.

    Parameters
    ----------
    workload_key : str
        :meth:`tvm_loihi.model.network.NetworkIR.workload_key` of the network.
    hardware_key : str
        Hash of the :class:`~tvm_loihi.model.hardware.HardwareSpec`.
    mapping : dict
        The mapping in canonical JSON form (``Mapping.to_json()``).
    fidelity : str
        Simulator fidelity (``"fast"`` or ``"event"``) or the name of a hardware backend.
    activity_key : str
        :meth:`tvm_loihi.model.activity.ActivityProfile.key` of the activity (the input set) that
        drives the measurement; part of the cache key, since the same mapping measures differently
        on other inputs.
    """

    workload_key: str
    hardware_key: str
    mapping: dict
    fidelity: str = "fast"
    activity_key: str = ""

    def key(self) -> str:
        """Cache key: equal (workload, hardware, mapping, fidelity, activity) give equal keys."""
        text = canonical_json(
            [self.workload_key, self.hardware_key, self.mapping, self.fidelity, self.activity_key]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def to_json(self) -> dict:
        return {
            "workload_key": self.workload_key,
            "hardware_key": self.hardware_key,
            "mapping": self.mapping,
            "fidelity": self.fidelity,
            "activity_key": self.activity_key,
        }

    @classmethod
    def from_json(cls, d: dict) -> MeasureInput:
        """Inverse of :meth:`to_json`; raises ``ValueError`` naming the field whose JSON type is
        wrong (a hand-edited or corrupt record), never coerces it."""
        d = _expect(d, dict, "input")
        return cls(
            _expect(d["workload_key"], str, "input.workload_key"),
            _expect(d["hardware_key"], str, "input.hardware_key"),
            _expect(d["mapping"], dict, "input.mapping"),
            _expect(d["fidelity"], str, "input.fidelity"),
            _expect(d.get("activity_key", ""), str, "input.activity_key"),
        )


@dataclass(frozen=True)
class MeasureResult:
    """The outcome of one measurement.

    Parameters
    ----------
    latency_s : float or None
        Total latency of the whole input set (None on error).
    energy_j : float or None
        Energy per inference (None on error).
    counters : dict
        Named figures (per-sample latency, throughput, cores and chips used,
        Loihi-profiler-style counters).
    error : MeasureError
        ``NO_ERROR`` when the figures are valid.
    message : str
        Human-readable error detail ('' on success).
    host : str
        Who measured it (``"local"`` or the RPC host address).
    wall_s : float
        Wall time the measurement took on the host.
    timestamp : float
        Unix time when the result was produced.
    """

    latency_s: float | None
    energy_j: float | None
    counters: dict = field(default_factory=dict)
    error: MeasureError = MeasureError.NO_ERROR
    message: str = ""
    host: str = "local"
    wall_s: float = 0.0
    timestamp: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.error is MeasureError.NO_ERROR

    @classmethod
    def failure(
        cls, error: MeasureError, message: str, host: str = "local", wall_s: float = 0.0
    ) -> MeasureResult:
        """An error result (no figures)."""
        return cls(None, None, {}, error, message, host, wall_s)

    def objective(self, name: str) -> float:
        """``latency`` -> latency_s, ``energy`` -> energy_j; +inf for failed measurements
        (for ranking only)."""
        if not self.ok:
            return float("inf")
        if name == "latency":
            return float(self.latency_s)
        if name == "energy":
            return float(self.energy_j)
        if name in self.counters:
            return float(self.counters[name])
        raise KeyError(f"unknown objective {name!r}; use 'latency', 'energy' or a counter name")

    def to_json(self) -> dict:
        return {
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "counters": self.counters,
            "error": self.error.value,
            "message": self.message,
            "host": self.host,
            "wall_s": self.wall_s,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_json(cls, d: dict) -> MeasureResult:
        """Inverse of :meth:`to_json`; raises ``ValueError`` naming the field whose JSON type or
        value is wrong (figures must be finite non-negative numbers, present on success)."""
        d = _expect(d, dict, "result")
        error = MeasureError(_expect(d.get("error", "no_error"), str, "result.error"))
        figures = []
        for name in ("latency_s", "energy_j"):
            value = d.get(name)
            if value is None:
                if error is MeasureError.NO_ERROR:
                    raise ValueError(f"result.{name} is missing on a successful result")
            elif not _is_number(value) or not math.isfinite(value) or value < 0:
                raise ValueError(f"result.{name} must be a finite number >= 0, got {value!r}")
            figures.append(None if value is None else float(value))
        counters = d.get("counters") or {}
        return cls(
            figures[0],
            figures[1],
            dict(_expect(counters, dict, "result.counters")),
            error,
            _expect(d.get("message", ""), str, "result.message"),
            _expect(d.get("host", "local"), str, "result.host"),
            float(_expect_number(d.get("wall_s", 0.0), "result.wall_s")),
            float(_expect_number(d.get("timestamp", 0.0), "result.timestamp")),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _expect(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a JSON {_JSON_NAMES[kind]}, got {value!r:.60}")
    return value


def _expect_number(value: Any, name: str) -> Any:
    if not _is_number(value):
        raise ValueError(f"{name} must be a JSON number, got {value!r:.60}")
    return value


_JSON_NAMES = {dict: "object", str: "string"}
