"""``tvm-loihi log summary|best LOG``: what a tuning log holds, and its best record per workload."""

from __future__ import annotations

import json
import os
import sys
import warnings

from ..report.table import format_log_summary, format_table
from ..report.units import format_quantity
from .errors import CliError


def _open(path: str):
    from ..measure.log import TuningLog, TuningLogWarning

    if not os.path.isfile(path):
        raise CliError(
            f"tuning log {path!r} does not exist (check the path; `tvm-loihi tune` writes "
            "<outdir>/tune.jsonl)"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TuningLogWarning)
        log = TuningLog(path)
    if not len(log) and os.path.getsize(path) > 0:
        _not_a_log(path, log, caught)
    if caught:
        print(
            f"tvm-loihi log: warning: {log.n_skipped} unreadable line(s) skipped in {path} "
            f"(first: {str(caught[0].message)[:120]})",
            file=sys.stderr,
        )
    return log


def _not_a_log(path: str, log, caught: list) -> None:
    """Refuse a non-empty file without a single tuning record (an ONNX model, a summary JSON...):
    reporting it as an empty log with "0 unreadable lines" would hide the wrong path."""
    if caught:
        first = str(caught[0].message).split(": skipping ", 1)[-1]
        why = f"none of its {log.n_skipped} non-blank line(s) is a tuning record ({first})"
    else:
        with open(path, "rb") as f:
            head = f.read(40)
        why = f"it has no complete line (starts {head!r})"
    raise CliError(
        f"{path} is not a tuning log: {why[:300]}; give the JSON-lines log `tvm-loihi tune` "
        "writes (<outdir>/tune.jsonl)"
    )


def _cores_per_layer(mapping) -> list[int] | None:
    """Cores per layer of a record's mapping, or None when it is not a mapping (the log stores
    what was measured; ``compile --log`` validates before use, the report must not crash)."""
    bounds = mapping.get("bounds") if isinstance(mapping, dict) else None
    if not isinstance(bounds, list) or not all(isinstance(b, list) and b for b in bounds):
        return None
    return [len(b) - 1 for b in bounds]


def _best_rows(log, objective: str) -> list[dict]:
    rows = []
    for group in log.summary()["groups"]:
        record = log.best(
            group["workload_key"], group["hardware_key"], objective, group["fidelity"]
        )
        if record is None:
            continue
        mapping = record.input.mapping
        rows.append(
            {
                "workload_key": group["workload_key"],
                "hardware_key": group["hardware_key"],
                "fidelity": group["fidelity"],
                "line": record.line,
                "latency_s": record.result.latency_s,
                "energy_j": record.result.energy_j,
                "cores_per_layer": _cores_per_layer(mapping),
                "host": record.result.host,
                "mapping": mapping,
            }
        )
    return rows


def cmd_log(args) -> int:
    """Print the summary table or the best records (``--json`` for machine-readable output)."""
    log = _open(args.log)
    if args.action == "summary":
        summary = log.summary()
        print(json.dumps(summary, indent=2) if args.json else format_log_summary(summary))
        return 0
    rows = _best_rows(log, args.objective)
    if not rows:
        raise CliError(f"{args.log}: no successful measurement to choose from (tune first)")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [
        [
            r["workload_key"],
            r["hardware_key"],
            r["fidelity"],
            r["line"],
            format_quantity(r["latency_s"], "s"),
            format_quantity(r["energy_j"], "J"),
            "-" if r["cores_per_layer"] is None else ",".join(map(str, r["cores_per_layer"])),
            r["host"],
        ]
        for r in rows
    ]
    print(f"best record by {args.objective} per workload, hardware and fidelity in {args.log}:")
    print(
        format_table(
            [
                "workload",
                "hardware",
                "fidelity",
                "line",
                "total latency",
                "energy/inf",
                "cores per layer",
                "host",
            ],
            table,
            align="lllrrrll",
        )
    )
    return 0
