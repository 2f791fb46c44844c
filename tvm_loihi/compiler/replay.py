"""Replay a tuning log at build time: ``with tvm_loihi.apply_best("tune.jsonl"): tvm.compile(...)``.

In the spirit of AutoTVM's ``ApplyHistoryBest``. Inside the context, the active config's mapping
provider (:class:`~tvm_loihi.compiler.config.LoihiConfig`) answers, for each offloaded network, the
mapping of the best successful record for that network's workload key on the build's hardware; the
compiled artifact embeds it (read it back with :func:`tvm_loihi.read_mappings`). A network without a
matching record gets no mapping -- the runtime then uses Lava's default mapping -- and a
:class:`ReplayWarning` says why (:func:`explain_miss`). A record whose mapping does not validate
against the network and the hardware is skipped with a warning naming its log line.

The workload key hashes the quantised network (structure, weights, shifts, scales), so a record
matches when the build quantises exactly as the tuning run did: same ONNX/Relax model, same
calibration inputs.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..measure.energy_budget import fastest_within, within_budget
from ..measure.log import LogRecord, TuningLog
from ..measure.records import MeasureResult
from ..model.argcheck import check_type
from ..model.hardware import PRESETS, HardwareSpec, get_preset
from ..model.mapping import Mapping, MappingError, lava_default_mapping
from ..model.network import NetworkIR
from ..model.quantize import INPUT_LAYER_NAME
from .config import current_config
from .pipeline import extract_networks

__all__ = [
    "ReplayReport",
    "ReplayWarning",
    "apply_best",
    "check_record",
    "explain_miss",
    "extract_networks",
]


class ReplayWarning(UserWarning):
    """A network was built without a tuned mapping (no matching record in the log), or a record
    was skipped because its mapping does not validate."""


@dataclass
class ReplayReport:
    """What :func:`apply_best` did during its context: one entry per network lowered.

    Attributes
    ----------
    applied : list of (network name, workload key, LogRecord)
        Networks that got a tuned mapping, and the record it came from.
    fallbacks : list of (network name, workload key, hardware key, reason)
        Networks that fell back to Lava's default mapping, and why no record matched (see
        :func:`explain_miss`).
    rejected : list of (network name, log line, reason)
        Matching records skipped because their mapping fails ``Mapping.validate`` against the
        network and the hardware (or is not a mapping at all); the next best record is tried.
    """

    applied: list[tuple[str, str, LogRecord]] = field(default_factory=list)
    fallbacks: list[tuple[str, str, str, str]] = field(default_factory=list)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)


def check_record(record: LogRecord, network: NetworkIR, hardware: HardwareSpec) -> str | None:
    """Why ``record``'s mapping cannot be built for ``network`` on ``hardware`` (None if it can).

    The same check as the search's: :meth:`Mapping.from_json` then :meth:`Mapping.validate`
    (layer sizes, core ids that exist, distinct cores, every per-core limit).
    """
    try:
        Mapping.from_json(record.input.mapping).validate(network, hardware)
    except (MappingError, KeyError, TypeError, ValueError, AttributeError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def _mapped_sizes(record: LogRecord) -> tuple[int, ...] | None:
    try:
        return tuple(int(b[-1]) for b in record.input.mapping["bounds"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _why_other(sizes: tuple[int, ...] | None, network: NetworkIR) -> str:
    ours = network.layer_sizes[1:]
    chip = network.layers[0].name == INPUT_LAYER_NAME
    if sizes is None:
        return "layer sizes unknown (no readable mapping)"
    if sizes == ours:
        return (
            "same layer sizes, other weights or quantisation: another --calibration than "
            "the tuning run's, or another export of the model"
        )
    if chip and sizes == ours[1:]:
        return "this network without the on-chip input layer: tuned with --input-layer host"
    if not chip and sizes[1:] == ours and sizes[0] == network.layer_sizes[0]:
        return "this network plus an on-chip input layer: tuned with --input-layer chip"
    return f"another network, layers {'-'.join(map(str, sizes))} (another model or --outputs)"


def _preset_keys() -> dict[str, str]:
    out = {}
    for name in sorted(PRESETS):
        out.setdefault(get_preset(name).key(), name)
    return out


def explain_miss(
    log: TuningLog, network: NetworkIR, hardware: HardwareSpec, fidelity: str | None = None
) -> str:
    """Why ``log`` has no usable record for ``network`` on ``hardware``, in one sentence.

    Distinguishes: hardware absent from the log (names the hardware keys it holds); the
    workload absent on that hardware (names the workloads it holds, each with what is
    detectable from its records: same layer sizes -- other calibration or weights --, the
    on-chip input layer added or missing, or another network); the workload present but with no
    successful record (at ``fidelity``).
    """
    workload_key, hardware_key = network.workload_key(), hardware.key()
    records = log.records()
    hw_name = getattr(hardware, "name", "?")
    on_hw = [r for r in records if r.input.hardware_key == hardware_key]
    if not on_hw:
        held = sorted({r.input.hardware_key for r in records})
        if not held:
            return f"{log.path} holds no readable record"
        presets = _preset_keys()
        named = [f"{k} ({presets[k]})" if k in presets else k for k in held[:4]]
        return (
            f"{log.path} has no record for hardware {hw_name!r} ({hardware_key}); it holds "
            f"hardware {', '.join(named)}{' ...' if len(held) > 4 else ''}: pass the "
            "--hardware the log was tuned with"
        )
    mine = [r for r in on_hw if r.input.workload_key == workload_key]
    if mine:
        ok = [r for r in mine if r.result.ok]
        if ok and fidelity is not None:
            fids = sorted({r.input.fidelity for r in ok})
            return (
                f"{log.path} has {len(ok)} successful record(s) of this workload but none at "
                f"fidelity {fidelity!r} (it holds {', '.join(fids)})"
            )
        return (
            f"{log.path} has {len(mine)} record(s) of this workload on {hw_name!r}, none "
            "successful with a valid mapping"
        )
    workloads: dict[str, tuple[int, ...] | None] = {}
    for r in on_hw:
        if workloads.get(r.input.workload_key) is None:
            workloads[r.input.workload_key] = _mapped_sizes(r)
    parts = [f"{wk}: {_why_other(sizes, network)}" for wk, sizes in list(workloads.items())[:4]]
    more = f" and {len(workloads) - 4} more" if len(workloads) > 4 else ""
    return (
        f"{log.path} holds hardware {hw_name!r} ({hardware_key}) but not this workload "
        f"(layers {'-'.join(map(str, network.layer_sizes[1:]))}); its workload(s) on it: "
        f"{'; '.join(parts)}{more}"
    )


def _within_energy_budget(
    ranked: list[LogRecord], network: NetworkIR, hardware: HardwareSpec, max_increase: float
) -> list[LogRecord]:
    """The records of ``ranked`` (order kept) within the energy budget of the Lava default's
    record at their own fidelity; fastest first (the budget is a latency-under-energy choice)."""
    default = lava_default_mapping(network, hardware).to_json()
    reference = {}
    for record in ranked:
        if record.input.mapping == default:
            reference.setdefault(record.input.fidelity, record.result)
    kept = [
        r
        for r in ranked
        if r.input.fidelity in reference
        and within_budget(r.result, reference[r.input.fidelity], max_increase)
    ]
    return sorted(kept, key=lambda r: r.result.latency_s)  # stable: ties keep the log's order


@contextmanager
def apply_best(
    log: str | os.PathLike | TuningLog,
    objective: str = "latency",
    fidelity: str | None = None,
    max_energy_increase: float | None = None,
):
    """Embed the best logged mapping of each offloaded network in what is built inside the context.

    Every candidate record is validated against the network and the hardware with the same
    :meth:`Mapping.validate` as the search (:func:`check_record`); one that fails is skipped with
    a :class:`ReplayWarning` naming its log line, and the next best is tried, so a hand-edited or
    corrupt line never reaches the artifact.

    Parameters
    ----------
    log : str, os.PathLike or TuningLog
        The tuning log (JSON lines written by a tuning run).
    objective : str
        What "best" minimises: ``"latency"`` (total latency of the input set),
        ``"energy"`` or a counter.
    fidelity : str, optional
        Only consider records measured at this fidelity (e.g. ``"event"``); by default any.
        ``tvm-loihi tune --verify event`` prints a replay command with ``--fidelity event``, so the
        mapping compiled is the one the run reported.
    max_energy_increase : float, optional
        Only consider records whose energy is at most ``1 + max_energy_increase`` times that of
        the Lava default mapping's record at the same fidelity (records at a fidelity where the
        default was never measured are skipped); the fastest of them is replayed
        (``tune --max-energy-increase``).

    Yields
    ------
    ReplayReport
        Filled in as networks are lowered.

    Examples
    --------
    >>> with tvm_loihi.apply_best("tune.jsonl") as report:
    ...     ex = tvm.compile(mod, target="loihi2")
    >>> tvm_loihi.read_mappings(ex)[0]["mapping"] is not None
    True
    """
    if max_energy_increase is not None:
        fastest_within([], MeasureResult(1.0, 1.0), max_energy_increase)  # type/range check
    check_type("apply_best", "log", log, (str, os.PathLike, TuningLog), "the tuning log's path")
    check_type("apply_best", "objective", objective, str, "'latency', 'energy' or a counter")
    if fidelity is not None:
        check_type("apply_best", "fidelity", fidelity, str, "'fast' or 'event'")
    tuning_log = log if isinstance(log, TuningLog) else TuningLog(log)
    report = ReplayReport()

    def provider(network, hardware):
        workload_key, hardware_key = network.workload_key(), hardware.key()
        ranked = tuning_log.ranked(workload_key, hardware_key, objective, fidelity)
        if max_energy_increase is not None:
            ranked = _within_energy_budget(ranked, network, hardware, max_energy_increase)
        for record in ranked:
            problem = check_record(record, network, hardware)
            if problem is None:
                report.applied.append((network.name, workload_key, record))
                return record.input.mapping
            warnings.warn(
                f"apply_best: {tuning_log.path} line {record.line}: the mapping recorded for "
                f"network {network.name!r} (workload {workload_key}) is invalid ({problem}); "
                "skipped",
                ReplayWarning,
                stacklevel=2,
            )
            report.rejected.append((network.name, record.line, problem))
        reason = explain_miss(tuning_log, network, hardware, fidelity)
        if max_energy_increase is not None and "no successful" not in reason:
            reason = (
                f"no valid record within {max_energy_increase:.0%} of the Lava default's "
                f"energy at {fidelity or 'any'} fidelity (the default itself must be "
                "logged at that fidelity)"
            )
        warnings.warn(
            f"apply_best: no usable record for network {network.name!r} (workload "
            f"{workload_key}): {reason}; falling back to the Lava default mapping",
            ReplayWarning,
            stacklevel=2,
        )
        report.fallbacks.append((network.name, workload_key, hardware_key, reason))
        return None

    with current_config().replace(mapping_provider=provider):
        yield report
