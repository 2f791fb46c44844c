"""How robust is the mapper's answer to the constants we had to assume? (#13 item 5)

For one workload on its preset, a fixed set of >= 200 mappings (random feasible genomes, the
heuristic seeds, the Lava default and the bests of bilevel and GA searches on the default
calibration) is measured under the default calibration and under every variant:

* each assumed constant (``ASSUMED_CONSTANTS``) at both ends of its range (``ASSUMED_RANGES``, else
  x0.5 and x2);
* the topology and model variants kept as presets (8 x 16 mesh, 8,192-neuron limit, the L1 barrier
  ramp, the running-power variant, the pre-recalibration v0 constants).

Per variant, side by side in one table (and in JSON):

(a) Spearman rank correlation of the latency of all mappings valid under both, vs the default;
(b) ``keep`` = the variant's own best latency / the latency, under the variant, of the mapping
    that is best under the default (1.0 = the default's answer is still the best; >= 0.9 is the
    target); the variant's own best is the better of the fixed set and a bilevel search run under
    the variant;
(c) the energy change (vs the Lava default, under the variant) of the default's best mapping, and
    whether its sign agrees with the default calibration's.

Fast model (the event model would take ~100x longer for 30 variants x 200 mappings), except for the
constants only the event model reads (``EVENT_ONLY``: the link buffer depth): their rows compare
event-model latencies under the default and under the variant, and their ``keep`` takes the
variant's own best from the fixed set only (no search on the event model). The README and
docs/simulator.md quote the table.

Examples
--------
    .venv/bin/python scripts/bench_sensitivity.py                       # mlp_a, ~10 min
    .venv/bin/python scripts/bench_sensitivity.py --workload mlp_b2 --search-budget 100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np
from scipy.stats import spearmanr

from tvm_loihi.model.activity import activity_from_float
from tvm_loihi.model.hardware import ASSUMED_CONSTANTS, ASSUMED_RANGES, PRESETS, HardwareSpec
from tvm_loihi.model.mapping import Mapping, MappingError
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs
from tvm_loihi.search import get_strategy
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.sim import evaluate
from tvm_loihi.tuning import tune

# Constants the fast model does not read: a fast-model comparison would show 1.000 whatever they do.
EVENT_ONLY = ("timing.link_buffer_msgs",)

# preset variants of the one-chip default (topology, limits, barrier, the old constants)
PRESET_VARIANTS = {
    "loihi2_1chip": (
        "loihi2_1chip_mesh16",
        "loihi2_1chip_n8192",
        "loihi2_1chip_ramp",
        "loihi2_1chip_running",
        "loihi2_1chip_v0",
    ),
    "loihi2_2chip": ("loihi2_2chip_running", "loihi2_2chip_v0"),
    "kapoho_point": ("kapoho_point_v0",),
}


def scaled(hw: HardwareSpec, name: str, value: float) -> HardwareSpec:
    """``hw`` with the constant ``"group.field"`` set to ``value``."""
    group, fieldname = name.split(".")
    if isinstance(getattr(getattr(hw, group), fieldname), int):
        value = round(value)  # a count, e.g. the link buffer depth
    part = dataclasses.replace(getattr(hw, group), **{fieldname: value})
    return dataclasses.replace(hw, name=f"{hw.name}[{name}={value:.3g}]", **{group: part})


def variants(hw: HardwareSpec) -> list[tuple[str, HardwareSpec]]:
    out = []
    for name in ASSUMED_CONSTANTS:
        group, fieldname = name.split(".")
        base = float(getattr(getattr(hw, group), fieldname))
        lo, hi = ASSUMED_RANGES.get(name, (base * 0.5, base * 2.0))
        out += [
            (f"{name} = {lo:.3g}", scaled(hw, name, lo)),
            (f"{name} = {hi:.3g}", scaled(hw, name, hi)),
        ]
    base_name = hw.name.removesuffix("_v0")
    out += [(f"preset {p}", PRESETS[p]) for p in PRESET_VARIANTS.get(base_name, ())]
    return out


def candidate_mappings(net, hw, act, n_random: int, search_budget: int, seed: int) -> list:
    """Random feasible genomes, the heuristic seeds, the Lava default and two searches' bests."""
    problem = MappingProblem(net, hw, act)
    genomes = [problem.default, *problem.seeds()]
    rnd = get_strategy("random")(
        problem.space,
        n_obj=1,
        budget=n_random,
        seed=seed,
        seeds=(),
        traffic=problem.traffic,
        order=problem.order,
    )
    for _ in range(n_random):
        g = rnd.ask()
        if g is None:
            break
        rnd.tell(g, (0.0,))
        genomes.append(g)
    mappings = {}
    for g in genomes:
        m = problem.decode(g)
        mappings.setdefault(json.dumps(m.to_json(), sort_keys=True), m)
    for strategy in ("bilevel", "ga"):
        res = tune(net, hw, strategy=strategy, budget=search_budget, seed=seed, activity=act)
        mappings.setdefault(
            json.dumps(res.best_mapping.to_json(), sort_keys=True), res.best_mapping
        )
    default = problem.decode(problem.default)
    return [
        default,
        *[m for k, m in mappings.items() if k != json.dumps(default.to_json(), sort_keys=True)],
    ]


def measure_all(
    net, mappings: list[Mapping], hw, act, fidelity: str = "fast"
) -> tuple[np.ndarray, np.ndarray]:
    """Total latency and energy per inference of every mapping (NaN where it is invalid on hw)."""
    lat, en = np.full(len(mappings), np.nan), np.full(len(mappings), np.nan)
    for i, m in enumerate(mappings):
        try:
            r = evaluate(net, m, hw, act, fidelity=fidelity)
        except MappingError:
            continue
        lat[i], en[i] = r.total_latency_s, r.energy_per_inference_j
    return lat, en


def compare(
    net, act, mappings, ref_lat, ref_en, hw, search_budget: int, seed: int, fidelity: str = "fast"
) -> dict:
    lat, en = measure_all(net, mappings, hw, act, fidelity)
    both = np.isfinite(lat) & np.isfinite(ref_lat)
    rho = float(spearmanr(ref_lat[both], lat[both]).statistic) if both.sum() > 2 else float("nan")
    ref_best = int(np.nanargmin(ref_lat))  # the default calibration's answer
    own = float(np.nanmin(lat))
    if search_budget and fidelity == "fast":
        res = tune(net, hw, strategy="bilevel", budget=search_budget, seed=seed, activity=act)
        own = min(own, res.best_result.latency_s)
    valid = bool(np.isfinite(lat[ref_best]) and np.isfinite(lat[0]))
    # a default-calibration answer the variant's limits reject keeps nothing of the variant's best
    keep = own / lat[ref_best] if valid else 0.0
    e_change = en[ref_best] / en[0] - 1.0 if valid else float("nan")
    ref_e_change = ref_en[ref_best] / ref_en[0] - 1.0
    return {
        "spearman": rho,
        "n_compared": int(both.sum()),
        "keep": float(keep),
        "answer_valid": valid,
        "best_latency_change": float(lat[ref_best] / lat[0] - 1.0) if valid else None,
        "energy_change": float(e_change) if valid else None,
        "energy_sign_agrees": bool(valid and np.sign(e_change) == np.sign(ref_e_change)),
        "fidelity": fidelity,
    }


def summarise(rows: list[dict]) -> dict:
    """The table's verdict over the *assumptions*: every row but the pre-recalibration ``_v0``
    presets, which are other constants and limits (kept to reproduce old results), not an end of
    an assumed range; their Spearman is reported on its own (``v0_spearman``)."""
    assumed = [r for r in rows if not r["hardware"].endswith("_v0")]
    return {
        "min_spearman": min(r["spearman"] for r in assumed),
        "min_keep": min(r["keep"] for r in assumed),
        "keep_below_0_9": [r["variant"] for r in assumed if r["keep"] < 0.9],
        "energy_sign_flips": [
            r["variant"] for r in assumed if r["answer_valid"] and not r["energy_sign_agrees"]
        ],
        "answer_invalid": [r["variant"] for r in rows if not r["answer_valid"]],
        "v0_spearman": {r["variant"]: r["spearman"] for r in rows if r not in assumed},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workload", default="mlp_a", choices=sorted(WORKLOADS))
    ap.add_argument("--random", type=int, default=200, help="random feasible mappings (200)")
    ap.add_argument(
        "--search-budget",
        type=int,
        default=150,
        help="budget of the bilevel/GA searches (0: no search under variants)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/bench_sensitivity.json")
    ap.add_argument(
        "--only",
        default="",
        help="run only the variants whose label contains this text and merge their rows into "
        "the workload's saved entry (the rest of the table is kept)",
    )
    args = ap.parse_args(argv)
    spec = WORKLOADS[args.workload]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    act = activity_from_float(net, sample_inputs(spec))
    hw = PRESETS[spec.hardware]
    start = time.perf_counter()
    mappings = candidate_mappings(net, hw, act, args.random, args.search_budget, args.seed)
    ref_lat, ref_en = measure_all(net, mappings, hw, act)
    ref_best = int(np.nanargmin(ref_lat))
    print(
        f"{args.workload} on {hw.name}: {len(mappings)} mappings; default calibration: best "
        f"{ref_lat[ref_best] * 1e6:.1f} us ({ref_lat[ref_best] / ref_lat[0] - 1:+.1%} latency, "
        f"{ref_en[ref_best] / ref_en[0] - 1:+.1%} energy vs the Lava default)",
        flush=True,
    )
    head = (
        f"{'variant':42s} {'spearman':>8s} {'n':>4s} {'keep':>6s} {'best vs Lava':>12s} "
        f"{'energy':>8s} {'sign':>5s}"
    )
    print(head + "\n" + "-" * len(head), flush=True)
    rows = []
    ref_event = None  # the default calibration on the event model, for the EVENT_ONLY rows
    for label, variant in variants(hw):
        if args.only not in label:
            continue
        if label.startswith(EVENT_ONLY):
            if ref_event is None:
                ref_event = measure_all(net, mappings, hw, act, "event")
            ref, fidelity = ref_event, "event"
        else:
            ref, fidelity = (ref_lat, ref_en), "fast"
        row = {
            "variant": label,
            "hardware": variant.name,
            **compare(net, act, mappings, *ref, variant, args.search_budget, args.seed, fidelity),
        }
        rows.append(row)
        if row["answer_valid"]:
            tail = (
                f"{row['best_latency_change']:+12.1%} {row['energy_change']:+8.1%} "
                f"{'same' if row['energy_sign_agrees'] else 'FLIP':>5s}"
            )
        else:
            tail = f"{'invalid: the default answer breaks its limits':>27s}"
        print(
            f"{label + (' [event]' if fidelity == 'event' else ''):42s} {row['spearman']:8.3f} "
            f"{row['n_compared']:4d} {row['keep']:6.3f} {tail}",
            flush=True,
        )
    existing = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            existing = json.load(f)
    if args.only and args.workload in existing:
        fresh = {r["variant"] for r in rows}
        kept = [r for r in existing[args.workload]["rows"] if r["variant"] not in fresh]
        rows = kept + rows
    summary = summarise(rows)
    print(
        f"\nover the assumptions (not the v0 presets): min Spearman {summary['min_spearman']:.3f}; "
        f"min keep {summary['min_keep']:.3f} "
        f"(below 0.9: {', '.join(summary['keep_below_0_9']) or 'none'}); energy sign flips "
        f"under: {', '.join(summary['energy_sign_flips']) or 'none'}; the default's answer is "
        f"invalid under: {', '.join(summary['answer_invalid']) or 'none'}; the v0 presets: "
        + (", ".join(f"{k} Spearman {v:.3f}" for k, v in summary["v0_spearman"].items()) or "none")
    )
    out = {
        "argv": sys.argv[1:] if argv is None else argv,
        "workload": args.workload,
        "hardware": hw.name,
        "n_mappings": len(mappings),
        "default": {
            "best_latency_s": float(ref_lat[ref_best]),
            "lava_latency_s": float(ref_lat[0]),
            "best_latency_change": float(ref_lat[ref_best] / ref_lat[0] - 1),
            "energy_change": float(ref_en[ref_best] / ref_en[0] - 1),
        },
        "rows": rows,
        "summary": summary,
        "wall_s": time.perf_counter() - start,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    existing[args.workload] = out
    with open(args.out, "w") as f:
        json.dump(existing, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
