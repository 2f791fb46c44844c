"""The paper's table on our simulator: every strategy and baseline, several seeds, equal budgets.

Per (workload, budget, strategy), over seeds: total-latency change vs the Lava default (mean +- sd),
energy-per-inference change both ways (static power of the used chips, Lava's convention, and of
every chip of the board; equal on one chip), cores used, evaluations to reach 90 % of the run's
final gain, and the ratio of the best latency to the simulator's lower bound. Convergence
(best-so-far per evaluation) of every run is saved for plotting. Writes results/experiments.json.

``--input-layer chip`` gives every network the on-chip input population
(``LoihiConfig(input_layer="chip")``); its rows also report the best latency against the Lava
default of the host-input network (the same model compiled without it).

Examples
--------
    .venv/bin/python scripts/experiments.py --quick            # mlp_a, mlp_b; budget 300; 5 seeds
    .venv/bin/python scripts/experiments.py --workloads mlp_b2 --budgets 300 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from tvm_loihi.model.activity import activity_from_float
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.model.quantize import INPUT_LAYER_NAME, quantize_network
from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs
from tvm_loihi.search import BASELINES, EVOLUTIONARY
from tvm_loihi.sim import evaluate, lower_bound
from tvm_loihi.tuning import tune

ALL_WORKLOADS = ("mlp_a", "mlp_b", "mlp_b2", "mlp_k")
# Also runnable, not by default: mlp_k at the width of the 2026-12-03 results (docs/results.md).
KNOWN_WORKLOADS = (*ALL_WORKLOADS, "mlp_k_5120")
STRATEGIES = (*EVOLUTIONARY, *[b for b in BASELINES if b != "lava_default"])


def evals_to_90(history: list[float]) -> int:
    """First evaluation (1-based) whose best-so-far reaches 90 % of the run's final gain."""
    h = np.asarray(history)
    gain = h[0] - h[-1]
    if gain <= 0:
        return 1
    return int(np.argmax(h <= h[0] - 0.9 * gain)) + 1


def workload(name: str, input_layer: str = "host"):
    spec = WORKLOADS[name]
    net = quantize_network(
        float_layers(spec),
        calibration=sample_inputs(spec),
        name=name,
        input_layer=input_layer == "chip",
    )
    return net, get_preset(spec.hardware), activity_from_float(net, sample_inputs(spec))


def host_default_latency(name: str, fidelity: str) -> float:
    """Total latency of the Lava default mapping of the host-input network."""
    net, hw, act = workload(name, "host")
    return evaluate(net, lava_default_mapping(net, hw), hw, act, fidelity=fidelity).total_latency_s


def run_one(net, hw, act, strategy: str, budget: int, seed: int, fidelity: str) -> dict:
    start = time.perf_counter()
    res = tune(
        net, hw, strategy=strategy, budget=budget, seed=seed, activity=act, fidelity=fidelity
    )
    return {
        "strategy": strategy,
        "budget": budget,
        "seed": seed,
        "fidelity": fidelity,
        "input_layer": "chip" if net.layers[0].name == INPUT_LAYER_NAME else "host",
        "latency_change": res.change("latency"),
        "energy_change": res.change("energy"),
        "energy_board_change": _board_change(res.best_result, res.default_result),
        "best_latency_s": res.best_result.latency_s,
        "default_latency_s": res.default_result.latency_s,
        "cores_used": int(res.best_result.counters.get("cores_used", -1)),
        "default_cores": int(res.default_result.counters.get("cores_used", -1)),
        "chips_used": int(res.best_result.counters.get("chips_used", -1)),
        "cores_per_layer": list(res.best_mapping.cores_per_layer),
        "evals_to_90": evals_to_90(list(res.history)),
        "evaluations": res.evaluations,
        "history": list(res.history),
        "wall_s": time.perf_counter() - start,
        **event_check(net, hw, act, res.best_mapping, res.default_mapping),
    }


def _board_change(best, default) -> float | None:
    b = best.counters.get("energy_per_inference_board_j")
    d = default.counters.get("energy_per_inference_board_j")
    return None if b is None or d is None else b / d - 1.0


_EVENT: dict[tuple, object] = {}  # (workload, hardware, mapping) -> event-model Measurement


def _event(net, hw, act, mapping: Mapping):
    """The event model's measurement of ``mapping``, once per process: every run of a workload
    re-evaluates the same Lava default (and deterministic baselines the same best), and on the
    8192-wide mlp_k one event evaluation takes minutes. The model is deterministic, so a repeat
    would give the same figures bit for bit."""
    key = (net.workload_key(), hw.key(), act.key(), json.dumps(mapping.to_json(), sort_keys=True))
    if key not in _EVENT:
        _EVENT[key] = evaluate(net, mapping, hw, act, fidelity="event")
    return _EVENT[key]


def event_check(net, hw, act, best: Mapping, default: Mapping) -> dict:
    """The final best and the Lava default re-evaluated with the event-level NoC model."""
    b = _event(net, hw, act, best)
    d = _event(net, hw, act, default)
    return {
        "event_best_latency_s": b.total_latency_s,
        "event_default_latency_s": d.total_latency_s,
        "event_latency_change": b.total_latency_s / d.total_latency_s - 1.0,
        "event_energy_change": b.energy_per_inference_j / d.energy_per_inference_j - 1.0,
    }


def summarise(runs: list[dict], bound: float) -> dict:
    lat = np.array([r["latency_change"] for r in runs])
    en = np.array([r["energy_change"] for r in runs])
    board = [r.get("energy_board_change") for r in runs]
    board = np.array(board) if all(b is not None for b in board) else None
    return {
        "latency_change_mean": float(lat.mean()),
        "latency_change_sd": float(lat.std(ddof=1) if len(lat) > 1 else 0),
        "energy_change_mean": float(en.mean()),
        "energy_change_sd": float(en.std(ddof=1) if len(en) > 1 else 0),
        "energy_board_change_mean": None if board is None else float(board.mean()),
        "energy_board_change_sd": None
        if board is None
        else float(board.std(ddof=1) if len(board) > 1 else 0),
        "cores_used_mean": float(np.mean([r["cores_used"] for r in runs])),
        "evals_to_90_mean": float(np.mean([r["evals_to_90"] for r in runs])),
        "ratio_to_lower_bound": float(np.mean([r["best_latency_s"] for r in runs]) / bound),
        "event_latency_change_mean": float(np.mean([r["event_latency_change"] for r in runs])),
        "event_latency_change_sd": float(
            np.std([r["event_latency_change"] for r in runs], ddof=1 if len(runs) > 1 else 0)
        ),
        "event_energy_change_mean": float(np.mean([r["event_energy_change"] for r in runs])),
        "n_seeds": len(runs),
        "fidelity": runs[0]["fidelity"],
        "input_layer": runs[0]["input_layer"],
    }


def print_row(name: str, budget: int, strategy: str, s: dict, default_cores: int) -> None:
    print(
        f"{name:7s} {budget:5d} {strategy:13s} {s['fidelity']:5s} {s['input_layer']:4s} "
        f"{100 * s['latency_change_mean']:+7.1f} ± {100 * s['latency_change_sd']:4.1f} % "
        f"{100 * s['energy_change_mean']:+7.1f} ± {100 * s['energy_change_sd']:4.1f} % "
        f"{s['cores_used_mean']:7.1f} ({default_cores:4d}) {s['evals_to_90_mean']:7.1f} "
        f"{s['ratio_to_lower_bound']:6.2f} | "
        f"event {100 * s['event_latency_change_mean']:+6.1f} ± "
        f"{100 * s['event_latency_change_sd']:4.1f} %",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workloads", nargs="+", default=list(ALL_WORKLOADS), choices=KNOWN_WORKLOADS)
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    ap.add_argument("--budgets", nargs="+", type=int, default=[300, 1000])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fidelity", default="fast", choices=("fast", "event"))
    ap.add_argument(
        "--input-layer",
        default="host",
        choices=("host", "chip"),
        help="chip: on-chip input population (LoihiConfig(input_layer='chip'))",
    )
    ap.add_argument("--quick", action="store_true", help="mlp_a and mlp_b, budget 300 only")
    ap.add_argument("--out", default="results/experiments.json")
    ap.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="merge finished result files into --out and write --md instead of "
        "running; later files replace earlier rows with the same key",
    )
    ap.add_argument(
        "--md",
        default="results/experiments_tables.md",
        help="with --merge: write the tables here (docs/results.md quotes them)",
    )
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out, args.md)
    if args.quick:
        args.workloads, args.budgets = ["mlp_a", "mlp_b"], [300]
    table, convergence = [], []
    print(
        f"{'work':7s} {'budget':>5s} {'strategy':13s} {'fid':5s} {'latency vs Lava':>17s} "
        f"{'energy vs Lava':>17s} {'cores (Lava)':>13s} {'ev→90%':>7s} {'÷LB':>6s}"
    )
    for name in args.workloads:
        net, hw, act = workload(name, args.input_layer)
        bound = lower_bound(net, hw, act)
        host_default = host_default_latency(name, args.fidelity)
        for budget in args.budgets:
            for strategy in args.strategies:
                runs = [
                    run_one(net, hw, act, strategy, budget, seed, args.fidelity)
                    for seed in range(args.seeds)
                ]
                s = summarise(runs, bound)
                vs_host = np.array([r["best_latency_s"] / host_default - 1.0 for r in runs])
                print_row(name, budget, strategy, s, runs[0]["default_cores"])
                table.append(
                    {
                        "workload": name,
                        "hardware": hw.name,
                        "budget": budget,
                        "strategy": strategy,
                        "lower_bound_s": bound,
                        "fidelity": args.fidelity,
                        "input_layer": args.input_layer,
                        "host_default_latency_s": host_default,
                        "vs_host_default_change_mean": float(vs_host.mean()),
                        "default_latency_s": runs[0]["default_latency_s"],
                        "default_cores": runs[0]["default_cores"],
                        **s,
                    }
                )
                convergence += [
                    {"workload": name, "input_layer": args.input_layer, **r} for r in runs
                ]
                # After every row: a long run killed keeps its rows.
                write(args.out, table, convergence)
    print(f"wrote {args.out}")
    return 0


def _key(r: dict) -> tuple:
    return (
        r["workload"],
        r.get("input_layer", "host"),
        r.get("fidelity", "fast"),
        r["budget"],
        r["strategy"],
    )


def _pct(mean: float, sd: float | None = None) -> str:
    return f"{100 * mean:+.1f} %" if sd is None else f"{100 * mean:+.1f} ± {100 * sd:.1f} %"


def markdown(table: list[dict]) -> str:
    """One markdown table per (workload, input layer, search fidelity), a row per (budget,
    strategy)."""
    groups: dict[tuple, list[dict]] = {}
    for r in table:
        groups.setdefault(_key(r)[:3], []).append(r)
    out = []
    for (name, input_layer, fidelity), rows in groups.items():
        r0 = rows[0]
        chip = input_layer == "chip"
        title = (
            f"**{name}** on `{r0['hardware']}`, "
            f"{'on-chip input population' if chip else 'host input'}, searched on the "
            f"**{fidelity}** model — Lava default {r0['default_latency_s'] * 1e6:.0f} µs on "
            f"{r0['default_cores']} cores, lower bound {r0['lower_bound_s'] * 1e6:.0f} µs"
        )
        if chip and r0.get("host_default_latency_s"):
            title += f"; host-input Lava default {r0['host_default_latency_s'] * 1e6:.0f} µs"
        cols = [
            "budget",
            "strategy",
            "seeds",
            "latency vs Lava",
            "energy vs Lava",
            "energy vs Lava (board)",
            "cores",
            "evals to 90 %",
            "÷ lower bound",
            "event model: latency vs Lava",
        ]
        cols += ["vs host-input Lava default"] if chip else []
        lines = [title, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            cells = [
                str(r["budget"]),
                r["strategy"],
                str(r["n_seeds"]),
                _pct(r["latency_change_mean"], r["latency_change_sd"]),
                _pct(r["energy_change_mean"], r["energy_change_sd"]),
                _board_pct(r),
                f"{r['cores_used_mean']:.0f}",
                f"{r['evals_to_90_mean']:.0f}",
                f"{r['ratio_to_lower_bound']:.2f}",
                _pct(r["event_latency_change_mean"], r["event_latency_change_sd"]),
            ]
            cells += [_pct(r["vs_host_default_change_mean"])] if chip else []
            lines.append("| " + " | ".join(cells) + " |")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def _board_pct(r: dict) -> str:
    """Energy change with static power of every chip of the board; on one chip it is the same as
    per used chip, so older rows without the figure show that one."""
    if r.get("energy_board_change_mean") is not None:
        return _pct(r["energy_board_change_mean"], r["energy_board_change_sd"])
    if r["hardware"] == "loihi2_1chip":
        return _pct(r["energy_change_mean"], r["energy_change_sd"])
    return "-"


def merge(paths: list[str], out: str, md: str) -> int:
    """Merge result files; a row (and its runs) in a later file replaces an earlier one with the
    same workload, input layer, fidelity, budget and strategy."""
    rows: dict[tuple, dict] = {}
    runs: dict[tuple, list[dict]] = {}
    for path in paths:
        with open(path) as f:
            d = json.load(f)
        fresh: dict[tuple, list[dict]] = {}
        for r in d["runs"]:
            fresh.setdefault(_key(r), []).append(r)
        for r in d["table"]:
            rows[_key(r)] = r
            runs[_key(r)] = fresh.get(_key(r), [])
    order = {w: i for i, w in enumerate(KNOWN_WORKLOADS)}
    rank = {s: i for i, s in enumerate(STRATEGIES)}
    table = sorted(
        rows.values(),
        key=lambda r: (
            order[r["workload"]],
            r.get("input_layer", "host") != "chip",
            r.get("fidelity", "fast") != "fast",
            r["budget"],
            rank.get(r["strategy"], 99),
        ),
    )
    write(out, table, [r for key in map(_key, table) for r in runs[key]])
    with open(md, "w") as f:
        f.write(markdown(table))
    print(markdown(table))
    return 0


def write(path: str, table: list[dict], runs: list[dict]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"argv": sys.argv[1:], "table": table, "runs": runs}, f)


if __name__ == "__main__":
    raise SystemExit(main())
