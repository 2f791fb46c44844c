"""The tuning log: versioned JSON lines, append-only -- the measurement cache and the record of a
run.

One line per measurement::

    {"v": 1, "key": "<MeasureInput.key()>", "input": {...MeasureInput...}, "result":
    {...MeasureResult...}[, "sample": k]}

``sample`` (absent = 0) is the index of a repeated measurement of the same input: a noisy backend's
repeats are all kept, and the mapping's figure is the aggregate of its samples
(:func:`tvm_loihi.measure.samples.aggregate`, the mean). A second kind of line records a verdict::

    {"v": 1, "kind": "reject", "key": ..., "input": {...}, "host": "<host>", "by": "<host>",
     "reason": "...", "timestamp": ...}

written when the re-measure of a run's best (:mod:`tvm_loihi.tuning.confirm`) disagrees with what
``host`` reported for that input: from then on every sample of that input measured by ``host`` is
left out of ``lookup``, ``ranked``, ``best`` and ``summary`` (the records stay in the file, the
record of what was claimed). A third kind records a race the tuner could not decide
(:mod:`tvm_loihi.tuning.racing`)::

    {"v": 1, "kind": "undecided", "key": ..., "input": {...}, "samples": n, "against": "<key>",
     "timestamp": ...}

written when the budget, the wall time or a failed repeat cut short the race of a challenger that
looked better than the incumbent (``against``) after ``n`` samples: the tuner did not take it, so
while that input has no more than ``n`` accepted successful samples ``ranked`` (hence ``best``,
``summary``, ``tvm-loihi log best`` and ``apply_best``) puts it after every decided mapping, and
the log's best is the run's reported best. Its samples stay in the cache (``lookup``,
``samples``): a resumed run with more budget races on, and once a later sample arrives the mark
no longer applies. Logs written before these kinds existed read exactly as before; an older reader
skips a verdict line with a warning.

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
to write a second cacheable record for a key that already has one (unless it is appended as a
repeat, ``repeat=True``), so the log holds each measured candidate once even when two tuners race on
it. A key's cached answer is the aggregate of its accepted samples (:meth:`TuningLog.samples`).
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
from .samples import aggregate

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
    sample : int
        Index of this measurement among the repeats of its input (0: the first; the JSON field
        ``sample``, absent in logs without repeats).
    n_samples : int
        How many accepted samples ``result`` aggregates (1 for a line of the file;
        :meth:`TuningLog.ranked` returns one aggregate record per mapping).
    """

    input: MeasureInput
    result: MeasureResult
    line: int = 0
    sample: int = 0
    n_samples: int = 1

    @property
    def cacheable(self) -> bool:
        return self.result.error in CACHEABLE_ERRORS

    def to_json(self) -> dict:
        d = {
            "v": LOG_VERSION,
            "key": self.input.key(),
            "input": self.input.to_json(),
            "result": self.result.to_json(),
        }
        if self.sample:
            d["sample"] = self.sample
        return d

    @classmethod
    def from_json(cls, d: dict, line: int = 0) -> LogRecord:
        inp = _checked_input(d)
        sample = d.get("sample", 0)
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
            raise ValueError(f"record sample must be an integer >= 0, got {sample!r:.40}")
        return cls(inp, MeasureResult.from_json(d["result"]), line, sample)


@dataclass(frozen=True)
class RejectMark:
    """A verdict line: ``host``'s measurements of ``input`` were refuted by a re-measure.

    Parameters
    ----------
    input : MeasureInput
        The candidate whose result was rejected.
    host : str
        The host whose samples of it are rejected.
    by : str
        Who re-measured it (``""`` when the host was already distrusted and not re-measured).
    reason : str
        Why, in words (both figures).
    line : int
        1-based line number in the file.
    """

    input: MeasureInput
    host: str
    by: str = ""
    reason: str = ""
    line: int = 0
    timestamp: float = 0.0

    def to_json(self) -> dict:
        return {
            "v": LOG_VERSION,
            "kind": "reject",
            "key": self.input.key(),
            "input": self.input.to_json(),
            "host": self.host,
            "by": self.by,
            "reason": self.reason,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_json(cls, d: dict, line: int = 0) -> RejectMark:
        inp = _checked_input(d)
        fields = {}
        for name in ("host", "by", "reason"):
            value = d.get(name, "")
            if not isinstance(value, str):
                raise ValueError(f"reject mark {name} must be a JSON string, got {value!r:.40}")
            fields[name] = value
        if not fields["host"]:
            raise ValueError("reject mark names no host")
        ts = d.get("timestamp", 0.0)
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            raise ValueError(f"reject mark timestamp must be a finite number, got {ts!r:.40}")
        return cls(inp, fields["host"], fields["by"], fields["reason"], line, float(ts))


@dataclass(frozen=True)
class UndecidedMark:
    """A verdict line: the race of ``input`` against the incumbent was cut short after
    ``samples`` samples (not shown better; see the module docstring).

    Parameters
    ----------
    input : MeasureInput
        The challenger.
    samples : int
        Its accepted successful samples when the race stopped.
    against : str
        Input key of the incumbent it was raced against (``""``: not known).
    line : int
        1-based line number in the file.
    """

    input: MeasureInput
    samples: int
    against: str = ""
    line: int = 0
    timestamp: float = 0.0

    def to_json(self) -> dict:
        return {
            "v": LOG_VERSION,
            "kind": "undecided",
            "key": self.input.key(),
            "input": self.input.to_json(),
            "samples": self.samples,
            "against": self.against,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_json(cls, d: dict, line: int = 0) -> UndecidedMark:
        inp = _checked_input(d)
        n, against, ts = d.get("samples"), d.get("against", ""), d.get("timestamp", 0.0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"undecided mark samples must be an integer >= 1, got {n!r:.40}")
        if not isinstance(against, str):
            raise ValueError(f"undecided mark against must be a JSON string, got {against!r:.40}")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            raise ValueError(f"undecided mark timestamp must be a finite number, got {ts!r:.40}")
        return cls(inp, n, against, line, float(ts))


def _checked_input(d) -> MeasureInput:
    if not isinstance(d, dict) or d.get("v") != LOG_VERSION:
        version = d.get("v") if isinstance(d, dict) else d
        raise ValueError(f"unsupported record version {version!r}")
    inp = MeasureInput.from_json(d["input"])
    if d.get("key") not in (None, inp.key()):
        raise ValueError("record key does not match its input (edited or corrupt)")
    return inp


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
        self._samples: dict[str, list[LogRecord]] = {}  # cacheable records per input key
        self._rejected: dict[str, set[str]] = {}  # input key -> hosts whose samples are refuted
        self._marks: list[RejectMark] = []
        self._undecided: dict[str, int] = {}  # input key -> samples when its race was cut short
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
            d = json.loads(raw.decode("utf-8"))
            if isinstance(d, dict) and d.get("kind") == "reject":
                mark = RejectMark.from_json(d, self._lines)
                self._marks.append(mark)
                self._rejected.setdefault(mark.input.key(), set()).add(mark.host)
                return
            if isinstance(d, dict) and d.get("kind") == "undecided":
                race = UndecidedMark.from_json(d, self._lines)
                key = race.input.key()
                self._undecided[key] = max(race.samples, self._undecided.get(key, 0))
                return
            if isinstance(d, dict) and d.get("kind") is not None:
                raise ValueError(f"unknown line kind {d.get('kind')!r:.40}")
            rec = LogRecord.from_json(d, self._lines)
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
            self._samples.setdefault(rec.input.key(), []).append(rec)

    def records(self) -> list[LogRecord]:
        """Every readable measurement record, in file order (after a :meth:`refresh`); rejected
        ones included (see :meth:`is_rejected`)."""
        self.refresh()
        return list(self._records)

    def marks(self) -> list[RejectMark]:
        """Every verdict line (:class:`RejectMark`), in file order."""
        self.refresh()
        return list(self._marks)

    def is_rejected(self, record: LogRecord) -> bool:
        """Whether a verdict line refutes ``record`` (its host's samples of its input)."""
        return record.result.host in self._rejected.get(record.input.key(), ())

    def is_undecided(self, record: LogRecord) -> bool:
        """Whether an undecided-race line still applies to ``record``'s input (an aggregate
        record of :meth:`ranked`: it has no more samples than when the race stopped)."""
        n = self._undecided.get(record.input.key())
        return n is not None and record.n_samples <= n

    def _accepted(self, key: str) -> list[LogRecord]:
        hosts = self._rejected.get(key, ())
        return [r for r in self._samples.get(key, ()) if r.result.host not in hosts]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[LogRecord]:
        return iter(self.records())

    def lookup(self, inp: MeasureInput) -> MeasureResult | None:
        """The cached result for ``inp`` (from this or any earlier run), or None if it must be
        measured: the aggregate of its accepted samples (:func:`~.samples.aggregate`; a single
        sample is returned as it was logged), rejected samples left out."""
        samples = self.samples(inp)
        return aggregate(samples) if samples else None

    def samples(self, inp: MeasureInput) -> list[MeasureResult]:
        """Every accepted cacheable measurement of ``inp`` (all its repeats, file order; samples
        of a host a verdict line refutes for ``inp`` are left out)."""
        key = inp.key()
        if not self._accepted(key):
            self.refresh()
        return [r.result for r in self._accepted(key)]

    # -- writing ---------------------------------------------------------------------------------
    def append(self, inp: MeasureInput, res: MeasureResult, repeat: bool = False) -> bool:
        """Append one record durably (one write, fsync-ed, under an exclusive lock).

        Parameters
        ----------
        inp, res : MeasureInput, MeasureResult
            What was measured and what came back.
        repeat : bool
            A deliberate repeated measurement (a sample of a noisy backend, a re-measure): always
            written, with the next ``sample`` index of ``inp``.

        Returns
        -------
        bool
            False when the log already held an accepted cacheable result for ``inp`` (written by
            another process in the meantime) and this is not a repeat: nothing is written, so no
            candidate appears twice.
        """

        def line() -> str:
            sample = len(self._samples.get(inp.key(), ())) if res.error in CACHEABLE_ERRORS else 0
            rec = LogRecord(inp, res, sample=sample)
            return json.dumps(rec.to_json(), sort_keys=True, separators=(",", ":"))

        def refuse() -> bool:
            return not repeat and res.error in CACHEABLE_ERRORS and bool(self._accepted(inp.key()))

        return self._write(line, refuse)

    def reject(self, inp: MeasureInput, host: str, by: str = "", reason: str = "") -> None:
        """Append a verdict line: ``host``'s samples of ``inp`` are refuted (by a re-measure on
        ``by``) and are left out of every lookup and ranking from now on."""
        import time

        mark = RejectMark(inp, host, by, reason, timestamp=time.time())
        text = json.dumps(mark.to_json(), sort_keys=True, separators=(",", ":"))
        self._write(lambda: text, lambda: False)

    def undecided(self, inp: MeasureInput, samples: int, against: str = "") -> bool:
        """Append an undecided-race line for ``inp`` (its race against the incumbent with key
        ``against`` stopped after ``samples`` accepted samples); False, and nothing written, when
        a line already covers that many samples."""
        import time

        mark = UndecidedMark(inp, int(samples), against, timestamp=time.time())
        text = json.dumps(mark.to_json(), sort_keys=True, separators=(",", ":"))
        return self._write(lambda: text, lambda: self._undecided.get(inp.key(), 0) >= mark.samples)

    def _write(self, make_line, refuse) -> bool:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            with _locked(fd, fcntl.LOCK_EX):
                self._refresh(lock=False)
                if refuse():
                    return False
                line = make_line()
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
            One record per mapping (input key): its first line, with ``result`` the aggregate of
            its accepted samples (:func:`~.samples.aggregate`, the mean) and ``n_samples`` their
            number; samples refuted by a verdict line are left out. Sorted by objective, ties by
            line, a mapping whose race was cut short (:meth:`is_undecided`) after every other;
            records whose objective is not a finite number are left out.
            :func:`tvm_loihi.apply_best` walks it until a mapping validates.
        """
        self.refresh()
        candidates = []
        for key, recs in self._samples.items():
            head = recs[0].input
            if (
                head.workload_key != workload_key
                or head.hardware_key != hardware_key
                or (fidelity is not None and head.fidelity != fidelity)
            ):
                continue
            ok = [r for r in self._accepted(key) if r.result.ok]
            if ok:
                candidates.append(
                    LogRecord(head, aggregate([r.result for r in ok]), ok[0].line, 0, len(ok))
                )
        scored = []
        for r in candidates:
            try:
                value = r.result.objective(objective)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                scored.append((self.is_undecided(r), value, r.line, r))
        return [s[3] for s in sorted(scored, key=lambda s: s[:3])]

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
            best = {
                "latency": self.ranked(wk, hk, "latency", fid),
                "energy": self.ranked(wk, hk, "energy", fid),
            }
            rejected = [r for r in recs if self.is_rejected(r)]
            ok = [r.result for r in recs if r.result.ok and not self.is_rejected(r)]
            rows.append(
                {
                    "workload_key": wk,
                    "hardware_key": hk,
                    "fidelity": fid,
                    "records": len(recs),
                    "distinct": len({r.input.key() for r in recs}),
                    "ok": len(ok),
                    "errors": dict(Counter(r.result.error.value for r in recs if not r.result.ok)),
                    "rejected": len(rejected),
                    "repeats": sum(1 for r in recs if r.sample > 0),
                    "best_latency_s": (
                        best["latency"][0].result.latency_s if best["latency"] else None
                    ),
                    "best_energy_j": best["energy"][0].result.energy_j if best["energy"] else None,
                    "hosts": sorted({r.result.host for r in recs}),
                }
            )
        return {
            "path": self.path,
            "version": LOG_VERSION,
            "records": len(records),
            "skipped_lines": self.n_skipped,
            "reject_marks": len(self._marks),
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
