"""Text tables: Lava default vs best found (``tvm-loihi tune``) and per-layer resources
(``inspect``)."""

from __future__ import annotations

from collections.abc import Sequence

from .summary import change_of, energy_sign_differs
from .units import format_change, format_quantity, format_ratio

# (metrics key, row label, unit; "" = a count)
COMPARED: tuple[tuple[str, str, str], ...] = (
    ("total_latency_s", "total latency ({n} samples)", "s"),
    ("per_sample_latency_s", "per-sample latency", "s"),
    ("energy_per_inference_j", "energy per inference (static: used chips)", "J"),
    ("energy_per_inference_board_j", "energy per inference (static: whole board)", "J"),
    ("cores_used", "cores used", ""),
    ("chips_used", "chips used", ""),
)


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None
) -> str:
    """Plain monospace table; ``align`` has one ``l``/``r`` per column (default: first left)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [list(map(str, headers)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _fmt(value, unit: str) -> str:
    return format_quantity(value, unit) if unit else ("-" if value is None else str(int(value)))


def comparison_rows(
    default: dict, best: dict, lower_bound_s: float | None, n_samples: int
) -> list[list[str]]:
    """Rows ``[metric, Lava default, best found, change]`` for two metrics dicts (see
    :func:`tvm_loihi.report.summary.metrics_of`), plus the latency-to-lower-bound ratios."""
    rows = [
        [
            label.format(n=n_samples),
            _fmt(default.get(key), unit),
            _fmt(best.get(key), unit),
            format_change(best.get(key), default.get(key)),
        ]
        for key, label, unit in COMPARED
    ]
    if lower_bound_s:
        rows.append(
            [
                "total latency / lower bound",
                format_ratio(default["total_latency_s"] / lower_bound_s),
                format_ratio(best["total_latency_s"] / lower_bound_s),
                "",
            ]
        )
        rows.append(["lower bound (total latency)", format_quantity(lower_bound_s, "s"), "", ""])
    return rows


def format_comparison(
    title: str, default: dict, best: dict, lower_bound_s: float | None, n_samples: int
) -> str:
    """The end-of-run table of ``tvm-loihi tune`` under a one-line title; a note under it when the
    energy change has opposite signs with static power charged per used chip and per board."""
    table = format_table(
        ["metric", "Lava default", "best found", "change"],
        comparison_rows(default, best, lower_bound_s, n_samples),
    )
    note = energy_sign_note(default, best)
    return f"{title}\n{table}" + (f"\n{note}" if note else "")


def energy_sign_note(default: dict, best: dict) -> str:
    """One line when the energy change vs the default differs in sign between the two static-power
    accountings (per used chip, Lava's convention, and per board), else ``""``."""
    change = change_of(default, best)
    if not energy_sign_differs(change):
        return ""
    chip, board = change["energy_per_inference_j"], change["energy_per_inference_board_j"]
    return (
        f"note: the energy change has opposite signs in the two accountings: {chip * 100:+.1f} % "
        f"with static power of the used chips only (Lava's convention), {board * 100:+.1f} % with "
        "static power of every chip of the board (idle chips are not power-gated); the sign of "
        "the energy effect is open"
    )


def format_resources(layers: Sequence[dict], limits: dict) -> str:
    """Per-layer resource table of ``tvm-loihi inspect``.

    ``layers``: dicts with ``name``, ``neurons``, ``inputs``, ``synapses``, ``density``,
    ``min_cores`` and ``max_use`` (``{limit: largest per-core use under the Lava default}``);
    ``limits``: ``{limit: cap}``.
    """
    keys = list(limits)
    headers = [
        "layer",
        "neurons",
        "inputs",
        "synapses",
        "density",
        "min cores",
        *(f"{k} (max/core of {limits[k]})" for k in keys),
    ]
    rows = [
        [
            d["name"],
            d["neurons"],
            d["inputs"],
            d["synapses"],
            f"{d['density'] * 100:.1f} %",
            d["min_cores"],
            *(f"{d['max_use'][k]} ({d['max_use'][k] / limits[k] * 100:.0f} %)" for k in keys),
        ]
        for d in layers
    ]
    return format_table(headers, rows)


def format_log_summary(summary: dict) -> str:
    """Render :meth:`~tvm_loihi.measure.log.TuningLog.summary` as a text table (``tvm-loihi log
    summary``)."""
    out = [
        f"{summary['path']}: {summary['records']} records (log v{summary['version']}), "
        f"{summary['skipped_lines']} unreadable lines skipped",
        f"{'workload':16s} {'hardware':16s} {'fidelity':8s} {'records':>7s} {'ok':>5s} "
        f"{'best latency':>13s} {'best energy':>12s}  errors / hosts",
    ]
    for g in summary["groups"]:
        lat = "-" if g["best_latency_s"] is None else f"{g['best_latency_s'] * 1e6:10.2f} us"
        en = "-" if g["best_energy_j"] is None else f"{g['best_energy_j'] * 1e6:9.3f} uJ"
        errs = ", ".join(f"{k}={v}" for k, v in sorted(g["errors"].items())) or "none"
        out.append(
            f"{g['workload_key']:16s} {g['hardware_key']:16s} {g['fidelity']:8s} "
            f"{g['records']:7d} {g['ok']:5d} {lat:>13s} {en:>12s}  {errs} / "
            f"{len(g['hosts'])} host(s)"
        )
    return "\n".join(out)
