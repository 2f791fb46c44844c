"""The chip in the loop (issue #14 benchmark): hardware evaluations the search needs on the silicon
stand-in, with and without a model of it.

For every workload, stand-in seed (hidden constants) and search seed, four rows tune the same
problem against the in-process stand-in (``StandinRunner``: the event model with the hidden
constants and 2 % run-to-run noise; no RPC, no wall cost, every measurement counted):

* ``bilevel``: the paper-style search, every candidate measured;
* ``bilevel+prefilter``: bilevel, but a candidate is measured only when the default
  (uncalibrated) fast simulator predicts it at most ``--prefilter-margin`` worse than the
  incumbent's prediction (else the search is told it failed, unmeasured);
* ``surrogate``: :mod:`tvm_loihi.tuning.surrogate` (inner bilevel search on the calibrated
  model, the most promising candidates measured);
* ``surrogate-global``: the same with ``local=0`` (no candidates from the measured incumbent's
  neighbourhood: the inner search's shortlist only, the design before issue #14's rerun);
* ``random``: independent random mappings.

Columns: gain (latency reduction) of the measured best vs the stand-in's Lava default, after
25/50/100/300 hardware evaluations, every row against the same reference (the default's noise-free
latency: a single noisy measurement of it would move a row's gain by ~1 point at 2 % noise);
hardware evaluations to reach 90 % and 100 % of bilevel's 300-evaluation gain (per stand-in seed,
bilevel's mean over search seeds); the noise-free gain of the reported best and the evaluations
until the measured incumbent's noise-free gain reaches bilevel's; the share of the final gain
that survives re-measurement (``--remeasure`` fresh noisy measurements of the final best and of
the default);
and, for the surrogate, the Spearman rank correlation of its model (``model``/``fit_model``)
calibrated on its first 100 measurements against the hidden truth (noise-free) on ``--holdout``
held-out mappings (half near-optimal, the rest mutants of the heuristic seeds and random ones),
beside the uncalibrated spec's; and (``--calib-event 1``, the default) the same for the event model
fitted to those 100 measurements (``calibrate(model="event")``, ``tvm-loihi calibrate
--fit-model event``), with its fitted timing constants beside the hidden ones in the JSON.

    .venv/bin/python scripts/bench_hil.py                    # the issue's grid
    .venv/bin/python scripts/bench_hil.py --workloads mlp_a --hidden-seeds 0 --search-seeds 0

Writes ``results/bench_hil.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
import warnings

import numpy as np

from tvm_loihi.measure.records import MeasureInput
from tvm_loihi.measure.standin import StandinRunner, hidden_hardware
from tvm_loihi.model.activity import activity_from_float
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import WORKLOADS, WorkloadSpec, float_layers, sample_inputs
from tvm_loihi.search.base import Strategy
from tvm_loihi.search.bilevel import BilevelES
from tvm_loihi.search.operators import mutate, random_genome
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.search.registry import register
from tvm_loihi.sim.api import evaluate
from tvm_loihi.tuning import RacingOptions, tune
from tvm_loihi.tuning.fit import calibrate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINTS = (25, 50, 100, 300)
ROWS = ("bilevel", "bilevel+prefilter", "surrogate", "surrogate-global", "random")
STRATEGY = {
    "bilevel": "bilevel",
    "bilevel+prefilter": "bench_prefilter",
    "surrogate": "surrogate",
    "surrogate-global": "surrogate",
    "random": "random",
}
# the uneven two-chip network with the on-chip input population (issue #14)
EXTRA = {"mlp_u2": WorkloadSpec("mlp_u2", (2048, 12288, 384, 8192, 128, 10), 0.95, "loihi2_2chip")}
CHIP_INPUT = {"mlp_u2"}


@register("bench_prefilter")
class PrefilterBilevel(Strategy):
    """Bilevel whose candidates are measured only when the default fast simulator predicts them
    within ``margin`` of the incumbent's prediction (the others are told ``inf``, unmeasured)."""

    needs_problem = True

    def __init__(self, space, *, problem, margin: float = 0.02, max_skips: int = 64, **kw):
        super().__init__(space, **kw)
        self.inner = BilevelES(
            space,
            n_obj=self.n_obj,
            budget=self.budget,
            seed=int(self.rng.integers(2**31)),
            seeds=self.seeds,
            traffic=self.traffic,
            order=self.order,
        )
        self.seeds = []
        self.problem, self.margin, self.max_skips = problem, float(margin), int(max_skips)
        self.model_evaluations = 0
        self._pred: dict[str, float] = {}

    def _predict(self, g) -> float:
        if g.key() not in self._pred:
            p = self.problem
            self.model_evaluations += 1
            m = evaluate(p.network, p.decode(g), p.hardware, p.activity, "fast", validate=False)
            self._pred[g.key()] = m.total_latency_s
        return self._pred[g.key()]

    def _ask(self):
        g = None
        for _ in range(self.max_skips):
            g = self.inner.ask()
            if g is None or g.key() in self.seen:
                continue
            if self.best is None or self._predict(g) <= self._predict(self.best[0]) * (
                1 + self.margin
            ):
                return g
            self.inner.tell(g, (math.inf,) * self.n_obj)  # filtered out: not measured
        return g

    def _tell(self, genome, fitness) -> None:
        self.inner.tell(genome, fitness)


def workload(name: str):
    spec = EXTRA.get(name) or WORKLOADS[name]
    net = quantize_network(
        float_layers(spec),
        calibration=sample_inputs(spec),
        name=spec.name,
        input_layer=name in CHIP_INPUT,
    )
    return net, get_preset(spec.hardware), activity_from_float(net, sample_inputs(spec))


def heldout(problem: MappingProblem, n: int, seed: int = 12345) -> list:
    """``n`` mappings no run is seeded with: the first half near-optimal (the ``n // 2`` best
    distinct mappings a 10 n-evaluation bilevel search finds on the default fast model; where a
    search decides, and ranking is hard), the rest an eighth random genomes and mutants of the
    heuristic seeds (1-4 joint moves of 2 placement moves each)."""
    rng = np.random.default_rng(seed)
    seeds = problem.seeds()
    found: dict[str, tuple] = {}
    es = BilevelES(problem.space, n_obj=1, budget=10 * n, seed=seed, seeds=seeds)
    for _ in range(10 * n):
        g = es.ask()
        if g is None:
            break
        try:
            v = evaluate(
                problem.network,
                problem.decode(g),
                problem.hardware,
                problem.activity,
                "fast",
                validate=False,
            ).total_latency_s
        except (ValueError, RuntimeError):
            v = math.inf
        es.tell(g, (v,))
        if math.isfinite(v):
            found[g.key()] = (v, g)
    out = [g for _, g in sorted(found.values(), key=lambda vg: vg[0])[: n // 2]]
    out += [random_genome(problem.space, rng) for _ in range(n // 8)]
    while len(out) < n:
        g = seeds[int(rng.integers(len(seeds)))]
        for _ in range(int(rng.integers(1, 5))):
            g = mutate(g, problem.space, rng, n_moves=2)
        out.append(g)
    return out


def truth_task(args) -> dict:
    """Noise-free hidden-model latency of the held-out mappings (one workload, one stand-in)."""
    name, hidden_seed, n = args
    net, hw, act = workload(name)
    problem = MappingProblem(net, hw, act)
    hid = hidden_hardware(hw, hidden_seed)
    lat = [
        evaluate(net, problem.decode(g), hid, act, "event", validate=False).total_latency_s
        for g in heldout(problem, n)
    ]
    return {"workload": name, "hidden_seed": hidden_seed, "latency": lat}


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def run_task(args) -> list[dict]:
    """The four rows on one (workload, stand-in seed, search seed)."""
    name, hidden_seed, search_seed, opts = args
    warnings.simplefilter("ignore")
    net, hw, act = workload(name)
    out = []
    for row in opts["rows"]:
        runner = StandinRunner(
            seed=hidden_seed,
            cv=opts["cv"],
            cost_s=0.0,
            noise_seed=1000 * search_seed + ROWS.index(row),
            memo=True,
        )
        runner.register(net, hw, act)
        params = {"margin": opts["prefilter_margin"]} if row == "bilevel+prefilter" else {}
        if row == "surrogate":
            params = dict(opts["surrogate"])
        if row == "surrogate-global":  # the A/B: no local exploitation (the design before it)
            params = dict(opts["surrogate"], local=0)
        log = _MemoryLog()
        t0 = time.perf_counter()
        res = tune(
            net,
            hw,
            runner=runner,
            strategy=STRATEGY[row],
            budget=opts["budget"],
            seed=search_seed,
            activity=act,
            fidelity="standin",
            log=log,
            strategy_params=params,
            racing=RacingOptions(repeats=opts["repeats"]),
        )
        wall = time.perf_counter() - t0
        hist = np.array(res.history)
        if len(hist) < opts["budget"]:  # stopped early (exhausted): the best stays
            hist = np.concatenate([hist, np.full(opts["budget"] - len(hist), hist[-1])])
        # one reference for every row: the default's noise-free latency on the stand-in (a
        # single noisy measurement of it moves a row's gain by ~1 point at 2 % noise)
        truth = _Truth(net, hw, act, hidden_seed)
        default = truth(res.default_mapping.to_json())
        true_curve = _true_curve(log, truth, opts["budget"]) / default
        # re-measure the final best and the default with fresh noise
        keys = (net.workload_key(), hw.key())
        again = {}
        for label, m in (("best", res.best_mapping), ("default", res.default_mapping)):
            inp = MeasureInput(*keys, m.to_json(), "standin", act.key())
            again[label] = float(
                np.mean(
                    [runner.submit([inp])[0].result().latency_s for _ in range(opts["remeasure"])]
                )
            )
        reported = 1 - res.best_result.latency_s / default
        survived = 1 - again["best"] / again["default"]
        entry = {
            "workload": name,
            "hidden_seed": hidden_seed,
            "search_seed": search_seed,
            "row": row,
            "gain_curve": (1 - hist / default).tolist(),
            "true_gain_curve": (1 - true_curve).tolist(),
            "true_gain": 1 - truth(res.best_mapping.to_json()) / default,
            "hardware_evaluations": res.hardware_evaluations,
            "model_evaluations": res.model_evaluations,
            "reported_gain": reported,
            "remeasured_gain": survived,
            "survives": survived / reported if reported > 0 else float("nan"),
            "wall_s": wall,
        }
        if row == "surrogate":
            entry["calibration"] = _calibration(net, hw, act, log, opts, hidden_seed)
        out.append(entry)
        print(
            f"  {name} s{hidden_seed} r{search_seed} {row:18s} gain@end {reported:+.3f} "
            f"model evals {res.model_evaluations} {wall:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    return out


class _Truth:
    """Noise-free latency on the stand-in's hidden constants, per mapping JSON (scoring only: the
    searches never see it)."""

    def __init__(self, net, hw, act, hidden_seed: int) -> None:
        from tvm_loihi.model.mapping import Mapping

        self.net, self.act, self.mapping = net, act, Mapping
        self.hid = hidden_hardware(hw, hidden_seed)
        self.cache: dict[str, float] = {}

    def __call__(self, mapping_json) -> float:
        key = json.dumps(mapping_json, sort_keys=True)
        if key not in self.cache:
            m = self.mapping.from_json(mapping_json)
            self.cache[key] = evaluate(
                self.net, m, self.hid, self.act, "event", validate=False
            ).total_latency_s
        return self.cache[key]


def _true_curve(log, truth: _Truth, budget: int) -> np.ndarray:
    """After each logged measurement, the noise-free latency of the mapping with the lowest mean
    of its samples so far (what a run holding the measured incumbent has found)."""
    sums: dict[str, list] = {}
    out, best = [], None
    for r in log.items:
        if not r.result.ok:
            out.append(out[-1] if out else math.inf)
            continue
        key = json.dumps(r.input.mapping, sort_keys=True)
        s = sums.setdefault(key, [0.0, 0, r.input.mapping])
        s[0], s[1] = s[0] + r.result.latency_s, s[1] + 1
        best = min(sums.values(), key=lambda v: v[0] / v[1])
        out.append(truth(best[2]))
    out = (out + [out[-1]] * budget)[:budget]
    return np.array(out)


class _MemoryLog:
    """A tuning log in memory (lookup/append), so the benchmark writes no files."""

    def __init__(self) -> None:
        self.items: list = []

    def lookup(self, inp):
        return None

    def samples(self, inp) -> list:
        return []  # no earlier run: nothing to reuse

    def append(self, inp, res, repeat: bool = False) -> bool:
        from tvm_loihi.measure.log import LogRecord

        self.items.append(LogRecord(inp, res))
        return True


def _calibration(net, hw, act, log: _MemoryLog, opts, hidden_seed) -> dict:
    """The model calibrated on the run's first ``--calib-records`` measurements, scored on the
    held-out mappings against the hidden truth (computed in the main process): the surrogate's own
    model (``predicted``) and, with ``--calib-event``, the event model fitted to the same records
    (``calibrate(model="event")``, what ``tvm-loihi calibrate --fit-model event`` does;
    ``predicted_event``, with its constants beside the hidden ones)."""
    n = opts["calib_records"]
    model = opts["surrogate"].get("model", "fast")
    fit_model = opts["surrogate"].get("fit_model") or model
    recs = [r for r in log.items if r.result.ok][:n]
    fit = calibrate(
        recs, hw, net, act, holdout=0.0, max_records=n, fit_energy=False, model=fit_model
    )
    problem = MappingProblem(net, hw, act)
    gs = heldout(problem, opts["holdout"])

    def predict(spec, fidelity):
        return [
            evaluate(net, problem.decode(g), spec, act, fidelity, validate=False).total_latency_s
            for g in gs
        ]

    out = {"records": len(recs), "predicted": predict(fit.hardware, model)}
    if opts["calib_event"]:
        t0 = time.perf_counter()
        ev = calibrate(
            recs,
            hw,
            net,
            act,
            holdout=0.0,
            max_records=n,
            fit_energy=False,
            model="event",
            max_nfev=opts["calib_nfev"],
        )
        hid = hidden_hardware(hw, hidden_seed)
        out["predicted_event"] = predict(ev.hardware, "event")
        out["event_fit_s"] = time.perf_counter() - t0
        out["event_constants"] = {
            c.name: {
                "default": c.default,
                "fitted": c.fitted,
                "hidden": float(getattr(getattr(hid, c.name.split(".")[0]), c.name.split(".")[1])),
                "identified": c.identified,
            }
            for c in ev.constants
            if c.name.startswith("timing.")
        }
    return out


def _first(curve: list[float], target: float) -> int | None:
    hit = np.flatnonzero(np.array(curve) >= target - 1e-12)
    return int(hit[0]) + 1 if hit.size else None


def summarise(entries: list[dict], truths: dict, budget: int) -> dict:
    """Per workload and row: mean gains at the checkpoints, evaluations to 90 %/100 % of bilevel's
    final gain (median over runs; None = not reached), survival, calibration Spearman."""
    table: dict = {}
    for name in dict.fromkeys(e["workload"] for e in entries):
        rows_of = [e for e in entries if e["workload"] == name]
        ref, ref_true = {}, {}
        for hs in {e["hidden_seed"] for e in rows_of}:
            bil = [e for e in rows_of if e["row"] == "bilevel" and e["hidden_seed"] == hs]
            ref[hs] = float(np.mean([e["gain_curve"][-1] for e in bil])) if bil else math.nan
            ref_true[hs] = float(np.mean([e["true_gain"] for e in bil])) if bil else math.nan
        table[name] = {}
        for row in ROWS:
            runs = [e for e in rows_of if e["row"] == row]
            if not runs:
                continue
            d: dict = {"runs": len(runs)}
            for c in CHECKPOINTS:
                if c <= budget:
                    d[f"gain@{c}"] = float(np.mean([e["gain_curve"][c - 1] for e in runs]))
            for share in (0.9, 1.0):
                hits = [_first(e["gain_curve"], share * ref[e["hidden_seed"]]) for e in runs]
                d[f"evals_to_{int(share * 100)}pct"] = hits
                med = float(np.median([h if h is not None else math.inf for h in hits]))
                d[f"evals_to_{int(share * 100)}pct_median"] = med if math.isfinite(med) else None
                d[f"evals_to_{int(share * 100)}pct_reached"] = bool(math.isfinite(med))
            for c in CHECKPOINTS:
                if c <= budget:
                    d[f"true_gain@{c}"] = float(
                        np.mean([e["true_gain_curve"][c - 1] for e in runs])
                    )
            d["true_gain"] = float(np.mean([e["true_gain"] for e in runs]))
            hits = [_first(e["true_gain_curve"], ref_true[e["hidden_seed"]]) for e in runs]
            d["true_evals_to_100pct"] = hits
            med = float(np.median([h if h is not None else math.inf for h in hits]))
            d["true_evals_to_100pct_median"] = med if math.isfinite(med) else None
            d["survives"] = float(np.nanmean([e["survives"] for e in runs]))
            d["model_evaluations"] = float(np.mean([e["model_evaluations"] for e in runs]))
            d["wall_s"] = float(np.mean([e["wall_s"] for e in runs]))
            if row == "surrogate":
                # the calibrations of the surrogate row: its own model ("", against the fast
                # model's default spec) and the event model fitted to the same records ("event_")
                for tag, key, baseline in (
                    ("", "predicted", "default_spearman"),
                    ("event_", "predicted_event", "default_event_spearman"),
                ):
                    rho, rho0, top, top0 = [], [], [], []
                    for e in runs:
                        t = truths.get((name, e["hidden_seed"]))
                        if t is not None and key in e.get("calibration", {}):
                            pred, h = e["calibration"][key], len(t["latency"]) // 2
                            rho.append(_spearman(pred, t["latency"]))
                            top.append(_spearman(pred[:h], t["latency"][:h]))
                            rho0.append(t[baseline])
                            top0.append(t[baseline + "_top"])
                    d[f"{tag}calib_spearman"] = rho
                    d[f"{tag}calib_spearman_mean"] = float(np.mean(rho)) if rho else None
                    d[f"{tag}calib_spearman_min"] = float(np.min(rho)) if rho else None
                    d[f"{tag}default_spearman_mean"] = float(np.mean(rho0)) if rho0 else None
                    d[f"{tag}calib_spearman_top"] = top
                    d[f"{tag}calib_spearman_top_mean"] = float(np.mean(top)) if top else None
                    d[f"{tag}default_spearman_top_mean"] = float(np.mean(top0)) if top0 else None
            table[name][row] = d
    return table


def _fmt_evals(v) -> str:
    return ">B" if v is None or not math.isfinite(v) else f"{v:.0f}"


def _fmt_rho(v) -> str:
    return "" if v is None else f"{v:.3f}"


def format_table(table: dict, budget: int) -> str:
    cps = [c for c in CHECKPOINTS if c <= budget]
    head = (
        f"{'workload':8s} {'row':18s} {'runs':>4s} "
        + " ".join(f"{'@' + str(c):>7s}" for c in cps)
        + f" {'to90%':>6s} {'to100%':>6s} {'true':>6s} {'tto100':>6s}"
        f" {'surv.':>6s} {'rho cal':>7s} {'rho def':>7s}"
        f" {'top cal':>7s} {'top def':>7s}"
        f" {'ev cal':>7s} {'ev min':>7s} {'ev def':>7s} {'evtop c':>7s} {'evtop d':>7s}"
        f" {'model ev':>8s}"
    )
    lines = [
        "gain: measured best-so-far vs the stand-in's Lava default (its noise-free latency, one "
        "reference for all rows; mean over runs) after N hardware evaluations; to90%/to100%: "
        "median hardware evaluations to reach 90 %/100 % of bilevel's "
        f"{budget}-evaluation gain (>B: not reached); true: noise-free gain of the reported best; "
        "tto100: median evaluations until the measured incumbent's noise-free gain reaches "
        "bilevel's final one; surv.: share of the final gain that survives "
        "re-measurement; rho: Spearman vs hidden truth on held-out mappings (calibrated on "
        "the first --calib-records measurements / default spec) on all held-out mappings and "
        "on their near-optimal half (top), for the surrogate's own model (rho, top: the fast "
        "model) and the event model fitted to the same records (ev cal, mean over runs; ev min: "
        "the worst run; ev def: the uncalibrated event model; evtop: the near-optimal half)",
        head,
        "-" * len(head),
    ]
    for name, rows in table.items():
        for row, d in rows.items():
            rho = d.get("calib_spearman_mean")
            rho0 = d.get("default_spearman_mean")
            lines.append(
                f"{name:8s} {row:18s} {d['runs']:4d} "
                + " ".join(f"{d[f'gain@{c}'] * 100:6.1f}%" for c in cps)
                + f" {_fmt_evals(d['evals_to_90pct_median']):>6s}"
                f" {_fmt_evals(d['evals_to_100pct_median']):>6s}"
                f" {d['true_gain'] * 100:5.1f}%"
                f" {_fmt_evals(d['true_evals_to_100pct_median']):>6s}"
                f" {d['survives'] * 100:5.0f}%"
                f" {'' if rho is None else f'{rho:.3f}':>7s}"
                f" {'' if rho0 is None else f'{rho0:.3f}':>7s}"
                f" {_fmt_rho(d.get('calib_spearman_top_mean')):>7s}"
                f" {_fmt_rho(d.get('default_spearman_top_mean')):>7s}"
                f" {_fmt_rho(d.get('event_calib_spearman_mean')):>7s}"
                f" {_fmt_rho(d.get('event_calib_spearman_min')):>7s}"
                f" {_fmt_rho(d.get('event_default_spearman_mean')):>7s}"
                f" {_fmt_rho(d.get('event_calib_spearman_top_mean')):>7s}"
                f" {_fmt_rho(d.get('event_default_spearman_top_mean')):>7s}"
                f" {d['model_evaluations']:8.0f}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="mlp_a,mlp_b,mlp_b2,mlp_u2")
    ap.add_argument("--hidden-seeds", default="0,1,2")
    ap.add_argument(
        "--hidden-seeds-for",
        action="append",
        default=[],
        metavar="WORKLOAD=S,S",
        help="other stand-in seeds for one workload (to fit a time budget)",
    )
    ap.add_argument("--search-seeds", default="0,1,2")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--holdout", type=int, default=200, help="held-out mappings for the Spearman")
    ap.add_argument("--calib-records", type=int, default=100)
    ap.add_argument(
        "--calib-event",
        type=int,
        default=1,
        choices=(0, 1),
        help="also fit the event model to the surrogate's first --calib-records measurements and "
        "score it (default 1; ~5 min per run on mlp_a)",
    )
    ap.add_argument(
        "--calib-nfev",
        type=int,
        default=6,
        help="least-squares evaluations of that event fit (calibrate(max_nfev=...))",
    )
    ap.add_argument("--remeasure", type=int, default=5)
    ap.add_argument("--cv", type=float, default=0.02)
    ap.add_argument("--prefilter-margin", type=float, default=0.02)
    ap.add_argument(
        "--surrogate", default="{}", help="JSON strategy_params of the surrogate strategy"
    )
    ap.add_argument(
        "--repeats",
        default="auto",
        help="RacingOptions(repeats=...) of every row: 'auto' (racing on the stand-in) or an int",
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--from-runs",
        metavar="RUNS.jsonl",
        help="summarise the cells of an earlier invocation (its --out + '.runs.jsonl', written "
        "as they finish) instead of running; give the same grid arguments",
    )
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "bench_hil.json"))
    args = ap.parse_args(argv)
    names = [w for w in args.workloads.split(",") if w]
    hseeds = [int(s) for s in args.hidden_seeds.split(",") if s]
    sseeds = [int(s) for s in args.search_seeds.split(",") if s]
    rows = [r for r in args.rows.split(",") if r]
    if set(rows) - set(ROWS) or "bilevel" not in rows:
        ap.error(f"--rows: choose from {ROWS}; bilevel is the reference and must be included")
    opts = {
        "budget": args.budget,
        "holdout": args.holdout,
        "calib_records": args.calib_records,
        "calib_event": bool(args.calib_event),
        "calib_nfev": args.calib_nfev,
        "remeasure": args.remeasure,
        "cv": args.cv,
        "prefilter_margin": args.prefilter_margin,
        "surrogate": json.loads(args.surrogate),
        "rows": rows,
        "repeats": args.repeats if args.repeats == "auto" else int(args.repeats),
    }
    t0 = time.perf_counter()
    per = {n: hseeds for n in names}
    for item in args.hidden_seeds_for:
        w, _, seeds = item.partition("=")
        if w not in per:
            ap.error(f"--hidden-seeds-for {item!r}: {w!r} is not in --workloads")
        per[w] = [int(x) for x in seeds.split(",") if x]
    runs = [(n, h, s, opts) for n in names for h in per[n] for s in sseeds]
    truths_in = [(n, h, args.holdout) for n in names for h in per[n]] if "surrogate" in rows else []
    # every finished cell is appended here at once, so a crash or a kill keeps what was measured;
    # --from-runs summarises such a file without running anything
    runs_path = args.from_runs or args.out + ".runs.jsonl"
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.jobs) as pool:
        truth_async = pool.map_async(truth_task, truths_in, chunksize=1)
        if args.from_runs:
            with open(runs_path) as f:
                entries = [json.loads(line) for line in f if line.strip()]
        else:
            os.makedirs(os.path.dirname(os.path.abspath(runs_path)), exist_ok=True)
            entries = []
            with open(runs_path, "w") as f:
                for batch in pool.imap_unordered(run_task, runs):
                    for e in batch:
                        f.write(json.dumps(e) + "\n")
                    f.flush()
                    entries += batch
        truth_list = truth_async.get()
    truths = {}
    for t in truth_list:
        net, hw, act = workload(t["workload"])
        problem = MappingProblem(net, hw, act)
        held = [problem.decode(g) for g in heldout(problem, args.holdout)]
        default_pred, event_pred = (
            [evaluate(net, m, hw, act, fid, validate=False).total_latency_s for m in held]
            for fid in ("fast", "event")
        )
        t["default_spearman"] = _spearman(default_pred, t["latency"])
        h = len(default_pred) // 2  # the near-optimal half (heldout)
        t["default_spearman_top"] = _spearman(default_pred[:h], t["latency"][:h])
        t["default_event_spearman"] = _spearman(event_pred, t["latency"])
        t["default_event_spearman_top"] = _spearman(event_pred[:h], t["latency"][:h])
        truths[(t["workload"], t["hidden_seed"])] = t
    entries.sort(key=lambda e: (names.index(e["workload"]), e["hidden_seed"], e["search_seed"]))
    table = summarise(entries, truths, args.budget)
    text = format_table(table, args.budget)
    grid = (
        f"grid: workloads {names}, stand-in seeds {per}, search seeds {sseeds}, budget "
        f"{args.budget}, rows {rows}, repeats {opts['repeats']} (all rows), noise cv {args.cv}, "
        f"held-out {args.holdout}, calibration "
        f"after {args.calib_records} measurements, surrogate params "
        f"{opts['surrogate'] or 'defaults'}"
        f"; {time.perf_counter() - t0:.0f} s wall on {args.jobs} processes"
    )
    print(grid + "\n" + text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {
                "grid": grid,
                "argv": sys.argv[1:] if argv is None else list(argv),
                "table": table,
                "text": text,
                "runs": [
                    {k: v for k, v in e.items() if k != "calibration"}
                    | (
                        {
                            "calibration_records": e["calibration"]["records"],
                            **{
                                k: e["calibration"][k]
                                for k in ("event_fit_s", "event_constants")
                                if k in e["calibration"]
                            },
                        }
                        if "calibration" in e
                        else {}
                    )
                    for e in entries
                ],
                "heldout_truth": {
                    f"{k[0]}/standin{k[1]}": {
                        key: v[key]
                        for key in (
                            "default_spearman",
                            "default_spearman_top",
                            "default_event_spearman",
                            "default_event_spearman_top",
                        )
                    }
                    for k, v in truths.items()
                },
            },
            f,
            indent=1,
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
