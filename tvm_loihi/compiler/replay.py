"""Replay a tuning log at build time: ``with tvm_loihi.apply_best("tune.jsonl"): tvm.compile(...)``.

In the spirit of AutoTVM's ``ApplyHistoryBest``. Inside the context, the active config's mapping
provider (:class:`~tvm_loihi.compiler.config.LoihiConfig`) answers, for each offloaded network, the
mapping of the best successful record for that network's workload key on the build's hardware; the
compiled artifact embeds it (read it back with :func:`tvm_loihi.read_mappings`). A network without a
matching record gets no mapping -- the runtime then uses Lava's default mapping -- and a
:class:`ReplayWarning` says so.

The workload key hashes the quantised network (structure, weights, shifts, scales), so a record
matches when the build quantises exactly as the tuning run did: same ONNX/Relax model, same
calibration inputs.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..measure.log import LogRecord, TuningLog
from .config import current_config
from .pipeline import extract_networks

__all__ = ["ReplayReport", "ReplayWarning", "apply_best", "extract_networks"]


class ReplayWarning(UserWarning):
    """A network was built without a tuned mapping (no matching record in the log)."""


@dataclass
class ReplayReport:
    """What :func:`apply_best` did during its context: one entry per network lowered.

    Attributes
    ----------
    applied : list of (network name, workload key, LogRecord)
        Networks that got a tuned mapping, and the record it came from.
    fallbacks : list of (network name, workload key, hardware key)
        Networks that fell back to Lava's default mapping.
    """

    applied: list[tuple[str, str, LogRecord]] = field(default_factory=list)
    fallbacks: list[tuple[str, str, str]] = field(default_factory=list)


@contextmanager
def apply_best(log: str | os.PathLike | TuningLog, objective: str = "latency",
               fidelity: str | None = None):
    """Embed the best logged mapping of each offloaded network in what is built inside the context.

    Parameters
    ----------
    log : str, os.PathLike or TuningLog
        The tuning log (JSON lines written by a tuning run).
    objective : str
        What "best" minimises: ``"latency"`` (total latency of the input set),
        ``"energy"`` or a counter.
    fidelity : str, optional
        Only consider records measured at this fidelity (e.g. ``"event"``); by default any.

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
    tuning_log = log if isinstance(log, TuningLog) else TuningLog(log)
    report = ReplayReport()

    def provider(network, hardware):
        workload_key, hardware_key = network.workload_key(), hardware.key()
        record = tuning_log.best(workload_key, hardware_key, objective, fidelity)
        if record is None:
            warnings.warn(
                f"apply_best: no successful record for network {network.name!r} (workload "
                f"{workload_key}) on hardware {getattr(hardware, 'name', '?')!r} ({hardware_key}) "
                f"in {tuning_log.path}; falling back to the Lava default mapping", ReplayWarning,
                stacklevel=2)
            report.fallbacks.append((network.name, workload_key, hardware_key))
            return None
        report.applied.append((network.name, workload_key, record))
        return record.input.mapping

    with current_config().replace(mapping_provider=provider):
        yield report
