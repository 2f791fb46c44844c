"""Warm start: seed a tuning run from the logs of earlier runs on other networks or hardware
(issue #14.5).

* :func:`warm_seeds` -- the best few mappings of every (workload, hardware, fidelity) in the logs,
  transferred to a new :class:`~tvm_loihi.search.problem.MappingProblem` and repaired to
  feasibility: each new layer takes the share of cores of the source layer at the same relative
  depth (shares renormalised, the total scaled by the source's share of its chip's cores), and its
  block is laid on the source layer's physical cores (core ids scaled when the core counts
  differ), completed with the free cores nearest to them (:func:`~tvm_loihi.search.genome.reorder`)
  and made feasible by :func:`~tvm_loihi.search.genome.repair` (the search's own operators). The
  driver hands them to the strategy ahead of its heuristic seeds; they are asked and measured like
  any candidate, never trusted.
* :func:`warm_records` -- every accepted successful measurement in the logs (refuted samples left
  out), for pre-fitting a calibration: :func:`tvm_loihi.tuning.fit.calibrate` needs the networks
  of the records it fits (a log keeps only their workload keys), so a calibration-using strategy
  (``tuning/surrogate.py``) calls ``calibrate(log, hardware, networks)`` on the warm logs whose
  workloads it can rebuild, or uses ``warm_records`` to see which workloads and hardware a log
  holds (``record.input.workload_key`` / ``hardware_key`` / ``fidelity``).

Log lines are untrusted: the logs are read by :class:`~tvm_loihi.measure.log.TuningLog` (strict
types, finite non-negative figures, key checks; bad lines skipped with a warning), a mapping that
does not parse is skipped with a :class:`WarmStartWarning`, and whatever a record says, a seed is
a repaired genome of the new problem: its mapping validates on the new network and hardware.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np

from ..measure.log import LogRecord, TuningLog
from ..model.hardware import PRESETS
from ..model.mapping import Mapping, MappingError
from ..search.genome import Genome, reorder, repair
from ..search.problem import MappingProblem


class WarmStartWarning(UserWarning):
    """A warm-start log or record could not be used."""


def _open(log) -> TuningLog:
    if isinstance(log, TuningLog):
        return log
    if not isinstance(log, (str, os.PathLike)):
        raise TypeError(f"warm_start: a log path or TuningLog, got {type(log).__name__}")
    if not os.path.isfile(log):
        raise FileNotFoundError(f"warm_start: tuning log {os.fspath(log)!r} does not exist")
    return TuningLog(log)


def warm_records(logs: Sequence) -> list[LogRecord]:
    """Every accepted successful measurement record of ``logs`` (paths or ``TuningLog``), in
    log then file order; samples refuted by a verdict line are left out, repeats kept (each is
    a measurement)."""
    out = []
    for log in logs:
        tl = _open(log)
        out += [r for r in tl.records() if r.result.ok and not tl.is_rejected(r)]
    return out


def best_records(logs: Sequence, top_k: int = 3, objective: str = "latency") -> list[LogRecord]:
    """The ``top_k`` best mappings (aggregates of their samples) of every (workload, hardware,
    fidelity) group of every log, best first within a group."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"warm_start: top_k must be an integer >= 1, got {top_k!r}")
    out = []
    for log in logs:
        tl = _open(log)
        for g in tl.summary()["groups"]:
            ranked = tl.ranked(g["workload_key"], g["hardware_key"], objective, g["fidelity"])
            out += ranked[:top_k]
    return out


def _source_cores(hardware_key: str, mapping: Mapping, problem: MappingProblem) -> int:
    """Physical cores of the hardware a record was measured on: the problem's when the key is
    the same, a preset's when it is one, else the highest core id used + 1."""
    if hardware_key == problem.hardware.key():
        return problem.hardware.n_cores
    for spec in PRESETS.values():
        if spec.key() == hardware_key:
            return spec.n_cores
    return int(mapping.core_ids.max()) + 1


def _largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    raw = shares / shares.sum() * total
    counts = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def transfer(mapping: Mapping, n_source_cores: int, problem: MappingProblem) -> Genome:
    """``mapping`` (of another network and/or hardware) as a feasible genome of ``problem``.

    Parameters
    ----------
    mapping : Mapping
        The source mapping.
    n_source_cores : int
        Physical cores of the source hardware.
    problem : MappingProblem
        The new problem.

    Returns
    -------
    Genome
        Repaired (feasible) for ``problem``.
    """
    space = problem.space
    src_counts = np.array(mapping.cores_per_layer, dtype=np.float64)
    n_src, n_dst = len(src_counts), space.n_layers
    # the source layer at the same relative depth
    layer_of = np.minimum((np.arange(n_dst) + 0.5) / n_dst * n_src, n_src - 1).astype(int)
    share = src_counts[layer_of]
    utilisation = min(1.0, float(src_counts.sum()) / max(1, n_source_cores))
    total = max(sum(space.min_counts), round(utilisation * space.n_cores))
    total = min(total, space.n_cores)
    counts = _largest_remainder(share, total) if total >= n_dst else np.ones(n_dst, np.int64)
    counts = np.maximum(counts, 1)
    # placement: each layer on its source layer's cores (ids scaled to the new chip), deduplicated
    scale = space.n_cores / max(1, n_source_cores)
    used: set[int] = set()
    blocks = []
    for j in range(n_dst):
        ids = mapping.layer_core_ids(int(layer_of[j]))
        block = []
        for c in np.floor(np.asarray(ids, dtype=np.float64) * scale).astype(np.int64):
            c = int(min(max(c, 0), space.n_cores - 1))
            if c not in used and len(block) < counts[j]:
                used.add(c)
                block.append(c)
        blocks.append(block)
    rest = [c for c in range(space.n_cores) if c not in used]
    perm = [c for b in blocks for c in b] + rest
    perm = reorder(perm, [len(b) for b in blocks], counts.tolist(), space.hops)
    return repair(Genome(tuple(int(c) for c in counts), perm), space)


def warm_seeds(
    problem: MappingProblem, logs: Sequence, top_k: int = 3, objective: str = "latency"
) -> list[Genome]:
    """Seeds for ``problem`` from the best ``top_k`` mappings of every group of ``logs``.

    Parameters
    ----------
    problem : MappingProblem
        The new problem (network, hardware, activity).
    logs : sequence of str, os.PathLike or TuningLog
        Earlier tuning logs (any network, any hardware).
    top_k : int
        Mappings per (workload, hardware, fidelity) group of each log.
    objective : str
        What "best" means in the source logs.

    Returns
    -------
    list of Genome
        Feasible genomes of ``problem``, distinct, in log order (best first per group); a record
        whose mapping does not parse is skipped with a :class:`WarmStartWarning`.
    """
    out: dict[str, Genome] = {}
    for record in best_records(logs, top_k, objective):
        try:
            mapping = Mapping.from_json(record.input.mapping)
            n_src = _source_cores(record.input.hardware_key, mapping, problem)
            genome = transfer(mapping, n_src, problem)
        except (MappingError, KeyError, TypeError, ValueError, IndexError) as err:
            warnings.warn(
                f"warm_start: line {record.line}: mapping not usable ({type(err).__name__}: "
                f"{err}); skipped",
                WarmStartWarning,
                stacklevel=2,
            )
            continue
        out.setdefault(genome.key(), genome)
    return list(out.values())
