"""The tuning log: versioned JSON lines, append-only -- the measurement cache and the record of a
run.

One line per measurement::

    {"v": 1, "key": "<MeasureInput.key()>", "input": {...MeasureInput...}, "result":
    {...MeasureResult...}}

Durability and concurrency
--------------------------
* Each record is one ``write()`` on a file opened with ``O_APPEND``, under an exclusive ``fcntl``
  lock, then flushed and ``fsync``-ed: a tuner killed with SIGKILL loses at most the measurement in
  flight, never a line already appended, and two processes appending to one log never interleave
  lines. A write that fails part-way (disk full, file size limit) is truncated back to the last
  whole record before the error is raised.
* Readers take the same lock and only consume complete lines; a line cut short (a crash mid-write on
  another machine, a full disk) or otherwise corrupt is skipped with a warning naming the file and
  line number, and the next append starts on a fresh line.

The cache
---------
:meth:`TuningLog.lookup` answers from the log, re-reading whatever other processes appended since
the last read. Which results are *cached* (returned by ``lookup`` and never re-measured) is decided
by :data:`CACHEABLE_ERRORS`: successful measurements and ``INVALID_MAPPING`` (a property of the
mapping and the hardware, so it repeats exactly). ``TIMEOUT``, ``HOST_LOST``, ``RUNTIME_ERROR``,
``BAD_PAYLOAD`` and ``UNKNOWN_WORKLOAD`` describe the host or the transport, not the candidate: they
are logged (the record of the run) but measured again when asked. :meth:`TuningLog.append` refuses
to write a second cacheable record for a key that already has one, so the log holds each measured
candidate once even when two tuners race on it.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .records import MeasureError, MeasureInput, MeasureResult

LOG_VERSION = 1
CACHEABLE_ERRORS = frozenset({MeasureError.NO_ERROR, MeasureError.INVALID_MAPPING})


class TuningLogWarning(UserWarning):
    """A line of a tuning log could not be read and was skipped."""


@dataclass(frozen=True)
class LogRecord:
    """One line of a tuning log: what was measured and what came back.

    Parameters
    ----------
    input : MeasureInput
        The candidate.
    result : MeasureResult
        Its measurement.
    line : int
        1-based line number in the file (0 for records not read from a file).
    """

    input: MeasureInput
    result: MeasureResult
    line: int = 0

    @property
    def cacheable(self) -> bool:
        return self.result.error in CACHEABLE_ERRORS

    def to_json(self) -> dict:
        return {
            "v": LOG_VERSION,
            "key": self.input.key(),
            "input": self.input.to_json(),
            "result": self.result.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict, line: int = 0) -> LogRecord:
        if not isinstance(d, dict) or d.get("v") != LOG_VERSION:
            version = d.get("v") if isinstance(d, dict) else d
            raise ValueError(f"unsupported record version {version!r}")
        inp = MeasureInput.from_json(d["input"])
        if d.get("key") not in (None, inp.key()):
            raise ValueError("record key does not match its input (edited or corrupt)")
        return cls(inp, MeasureResult.from_json(d["result"]), line)


class TuningLog:
    """An append-only JSON-lines tuning log that is also the measurement cache.

    Parameters
    ----------
    path : str or os.PathLike
        The log file; created (with its directory) on the first append.

    Examples
    --------
    >>> log = TuningLog("tune.jsonl")
    >>> if log.lookup(inp) is None:
    ...     log.append(inp, runner.submit([inp])[0].result())
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._records: list[LogRecord] = []
        self._cache: dict[str, MeasureResult] = {}
        self._offset = 0  # bytes of the file consumed so far (complete lines only)
        self._lines = 0
        self.n_skipped = 0  # corrupt or truncated lines seen
        self.refresh()

    # -- reading ---------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Read records appended (by any process) since the last read; returns how many were new."""
        return self._refresh(lock=True)

    def _refresh(self, lock: bool) -> int:
        # flock locks belong to open file descriptions: under append's exclusive lock, read
        # unlocked.
        if not os.path.exists(self.path):
            return 0
        with open(self.path, "rb") as f:
            if lock:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a fragment without newline is not a complete line (yet)
        before = len(self._records)
        for raw in data[:end].split(b"\n")[:-1]:
            self._lines += 1
            self._ingest(raw)
        self._offset += end
        return len(self._records) - before

    def _ingest(self, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            rec = LogRecord.from_json(json.loads(raw.decode("utf-8")), self._lines)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            self.n_skipped += 1
            warnings.warn(
                f"tuning log {self.path}: skipping line {self._lines} "
                f"({type(exc).__name__}: {exc}; starts {raw[:60]!r})",
                TuningLogWarning,
                stacklevel=3,
            )
            return
        self._records.append(rec)
        if rec.cacheable:
            self._cache.setdefault(rec.input.key(), rec.result)

    def records(self) -> list[LogRecord]:
        """Every readable record, in file order (after a :meth:`refresh`)."""
        self.refresh()
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[LogRecord]:
        return iter(self.records())

    def lookup(self, inp: MeasureInput) -> MeasureResult | None:
        """The cached result for ``inp`` (from this or any earlier run), or None if it must be
        measured."""
        key = inp.key()
        if key not in self._cache:
            self.refresh()
        return self._cache.get(key)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, inp: MeasureInput, res: MeasureResult) -> bool:
        """Append one record durably (one write, fsync-ed, under an exclusive lock).

        Returns
        -------
        bool
            False when the log already held a cacheable result for ``inp`` (written by another
            process in the meantime): nothing is written, so no candidate appears twice.
        """
        line = json.dumps(LogRecord(inp, res).to_json(), sort_keys=True, separators=(",", ":"))
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            with _locked(fd, fcntl.LOCK_EX):
                self._refresh(lock=False)
                if res.error in CACHEABLE_ERRORS and inp.key() in self._cache:
                    return False
                size = os.fstat(fd).st_size
                prefix = b"\n" if size and not _ends_with_newline(self.path, size) else b""
                try:
                    _write_all(fd, prefix + line.encode("utf-8") + b"\n")
                    os.fsync(fd)
                except OSError as err:  # disk full, file size limit: leave no partial record
                    os.ftruncate(fd, size)
                    raise OSError(
                        err.errno,
                        f"tuning log {self.path}: append failed "
                        f"({err.strerror or err}); truncated back to the last whole "
                        "record (free space, then rerun to resume)",
                    ) from err
                self._refresh(lock=False)
        finally:
            os.close(fd)
        return True

    # -- queries ---------------------------------------------------------------------------------
    def best(
        self,
        workload_key: str,
        hardware_key: str,
        objective: str = "latency",
        fidelity: str | None = None,
    ) -> LogRecord | None:
        """The successful record with the lowest ``objective`` for a workload on a hardware spec.

        Parameters
        ----------
        workload_key, hardware_key : str
            :meth:`NetworkIR.workload_key` and :meth:`HardwareSpec.key`.
        objective : str
            ``"latency"``, ``"energy"`` or a counter name (see :meth:`MeasureResult.objective`).
        fidelity : str, optional
            Only records measured at this fidelity; by default any (ties go to the earliest record).
        """
        ranked = self.ranked(workload_key, hardware_key, objective, fidelity)
        return ranked[0] if ranked else None

    def ranked(
        self,
        workload_key: str,
        hardware_key: str,
        objective: str = "latency",
        fidelity: str | None = None,
    ) -> list[LogRecord]:
        """Every successful record of a workload on a hardware spec, best ``objective`` first.

        Parameters
        ----------
        workload_key, hardware_key : str
            :meth:`NetworkIR.workload_key` and :meth:`HardwareSpec.key`.
        objective : str
            ``"latency"``, ``"energy"`` or a counter name (see :meth:`MeasureResult.objective`).
        fidelity : str, optional
            Only records measured at this fidelity; by default any.

        Returns
        -------
        list of LogRecord
            Sorted by objective, ties by line; records whose objective is not a finite number
            are left out. :func:`tvm_loihi.apply_best` walks it until a mapping validates.
        """
        candidates = [
            r
            for r in self.records()
            if r.result.ok
            and r.input.workload_key == workload_key
            and r.input.hardware_key == hardware_key
            and (fidelity is None or r.input.fidelity == fidelity)
        ]
        scored = []
        for r in candidates:
            try:
                value = r.result.objective(objective)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                scored.append((value, r.line, r))
        return [s[2] for s in sorted(scored, key=lambda s: s[:2])]

    def summary(self) -> dict:
        """Counts and best figures per (workload, hardware, fidelity): the ``tvm-loihi log summary``
        data."""
        records = self.records()
        groups: dict[tuple[str, str, str], list[LogRecord]] = {}
        for r in records:
            group = (r.input.workload_key, r.input.hardware_key, r.input.fidelity)
            groups.setdefault(group, []).append(r)
        rows = []
        for (wk, hk, fid), recs in sorted(groups.items()):
            ok = [r.result for r in recs if r.result.ok]
            rows.append(
                {
                    "workload_key": wk,
                    "hardware_key": hk,
                    "fidelity": fid,
                    "records": len(recs),
                    "distinct": len({r.input.key() for r in recs}),
                    "ok": len(ok),
                    "errors": dict(Counter(r.result.error.value for r in recs if not r.result.ok)),
                    "best_latency_s": min((r.latency_s for r in ok), default=None),
                    "best_energy_j": min((r.energy_j for r in ok), default=None),
                    "hosts": sorted({r.result.host for r in recs}),
                }
            )
        return {
            "path": self.path,
            "version": LOG_VERSION,
            "records": len(records),
            "skipped_lines": self.n_skipped,
            "groups": rows,
        }


@contextmanager
def _locked(fd: int, mode: int):
    fcntl.flock(fd, mode)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _ends_with_newline(path: str, size: int) -> bool:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def _write_all(fd: int, data: bytes) -> None:
    # One write() normally; loop only if the kernel reports a short write (the lock keeps it whole).
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
