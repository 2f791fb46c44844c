"""``tvm-loihi tune`` / ``tvm-loihi demo``: ONNX -> offloaded networks -> mapping search -> table,
figures.

Every offloaded network is tuned (``--networks all``, the default; ``largest`` tunes only the one
with the most neurons), each with the full ``--budget`` per strategy. Several strategies
(``--strategy bilevel,ga``) share the tuning log, so a mapping one of them measured is a log hit for
the next. The table compares the Lava default (evaluation 1 of every run) with the best mapping any
run found, as measured by the runner; the figures re-simulate both mappings locally for their
per-core and per-link breakdowns. With ``--verify FIDELITY`` the search's ``--verify-top-k`` best
mappings and the Lava default are re-measured at that fidelity; the table compares them there."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import numpy as np

from ..constants import STANDIN_FIDELITY
from ..report import ProgressBar, format_comparison, validate_summary
from ..report.summary import (
    SUMMARY_SCHEMA,
    SUMMARY_VERSION,
    change_of,
    energy_sign_differs,
    metrics_of,
    run_of,
)
from ..report.units import format_quantity
from . import inputs
from .errors import CliError

OBJECTIVES = ("latency", "energy")


@dataclass
class NetworkOutcome:
    """What tuning one offloaded network produced (the runs, the references, the figures)."""

    network: object
    hardware: object
    activity: object
    lower_bound_s: float
    runs: list
    figures: list

    @property
    def best(self):
        return min(self.runs, key=lambda r: r.best_result.objective(r.objectives[0]))


@dataclass(frozen=True)
class TuneOptions:
    """What ``tvm-loihi tune`` / ``demo`` was asked for: built and checked once from argparse's
    namespace (:meth:`from_args`), then passed on; nothing below it reads or changes the namespace.

    Fields mirror the flags (docs/cli.md); ``strategies``/``objectives`` are parsed lists, ``log``
    has its default (``OUTDIR/tune.jsonl``) filled in, ``default_hardware`` is the workload's
    preset.
    """

    strategies: tuple[str, ...]
    objectives: tuple[str, ...]
    budget: int
    seed: int
    fidelity: str
    verify: str | None
    verify_top_k: int
    wall_time: float | None
    stagnation: int | None
    max_energy_increase: float | None
    repeats: int | str
    max_repeats: int
    warm_start: tuple[str, ...]
    log: str
    log_given: bool
    outdir: str
    model: str | None
    workload: str | None
    runner: str
    json: str | None
    hardware: str | None
    default_hardware: str
    calibration: str | None
    outputs: tuple[str, ...] | None
    input_layer: str
    weight_clip_percentile: float | None
    networks: str
    argv: tuple[str, ...]
    secret_file: str | None

    @classmethod
    def from_args(cls, args) -> TuneOptions:
        """Check the flags that argparse cannot (strategy names, objective pairs, the stand-in
        needing hosts) and build the options; a :class:`CliError` names the flag."""
        from ..search import strategy_names
        from ..tuning import surrogate  # noqa: F401  (registers "surrogate")

        strategies = [s.strip() for s in args.strategy.split(",") if s.strip()]
        unknown = [s for s in strategies if s not in strategy_names()]
        if not strategies or unknown:
            raise CliError(
                f"--strategy {args.strategy!r}: unknown {unknown or 'empty'}; known: "
                f"{', '.join(strategy_names())} (comma-separate several)"
            )
        objectives = tuple(o.strip() for o in args.objectives.split(","))
        if (
            not 1 <= len(objectives) <= 2
            or any(o not in OBJECTIVES for o in objectives)
            or len(set(objectives)) != len(objectives)
        ):
            raise CliError(f"--objectives {args.objectives!r}: use 'latency' or 'latency,energy'")
        if args.budget < 1:
            raise CliError(f"--budget {args.budget}: must be at least 1 evaluation")
        if args.verify and args.verify_top_k < 1:
            raise CliError(f"--verify-top-k {args.verify_top_k}: must be at least 1 mapping")
        standin = STANDIN_FIDELITY in (args.fidelity, args.verify)
        if inputs.parse_runner(args.runner) is None and standin:
            raise CliError(
                f"--fidelity/--verify {STANDIN_FIDELITY}: the silicon stand-in is measured by "
                "hosts (`tvm-loihi serve --backend standin --standin-seed S`); use --runner "
                "rpc://HOST:PORT/KEY"
            )
        return cls(
            strategies=tuple(strategies),
            objectives=objectives,
            budget=args.budget,
            seed=args.seed,
            fidelity=args.fidelity,
            verify=args.verify,
            verify_top_k=args.verify_top_k,
            wall_time=args.wall_time,
            stagnation=args.stagnation,
            max_energy_increase=args.max_energy_increase,
            repeats=getattr(args, "repeats", "auto"),
            max_repeats=getattr(args, "max_repeats", 5),
            warm_start=tuple(getattr(args, "warm_start", None) or ()),
            log=args.log or os.path.join(args.outdir, "tune.jsonl"),
            log_given=bool(args.log),
            outdir=args.outdir,
            model=args.model,
            workload=getattr(args, "workload", None),
            runner=args.runner,
            json=args.json,
            hardware=args.hardware,
            default_hardware=inputs.default_hardware(getattr(args, "workload", None)),
            calibration=args.calibration,
            outputs=tuple(args.outputs) if args.outputs else None,
            input_layer=args.input_layer,
            weight_clip_percentile=getattr(args, "weight_clip_percentile", None),
            networks=args.networks,
            argv=tuple(getattr(args, "argv", None) or [args.command]),
            secret_file=getattr(args, "secret_file", None),
        )


def _measured_by(fidelity: str) -> str:
    """How a fidelity is named in titles and figures (the stand-in is never called silicon)."""
    if fidelity == STANDIN_FIDELITY:
        return "silicon STAND-IN (event model with hidden constants and noise; not silicon)"
    return f"{fidelity} simulator"


def _resimulated(fidelity: str) -> str:
    """The local fidelity figures re-simulate at: the stand-in's model is hidden, so ``event``."""
    return "event" if fidelity == STANDIN_FIDELITY else fidelity


def _tune_one(network, hardware, runner, opts: TuneOptions, calibration) -> NetworkOutcome:
    from ..sim import lower_bound
    from ..tuning import RacingOptions, VerifyOptions, WarmStartOptions, tune

    activity = inputs.activity_for(network, hardware, calibration)
    runs = []
    for strategy in opts.strategies:
        bar = ProgressBar(f"{network.name} {strategy}")
        res = tune(
            network,
            hardware,
            runner=runner,
            strategy=strategy,
            budget=opts.budget,
            seed=opts.seed,
            objectives=opts.objectives,
            activity=activity,
            fidelity=opts.fidelity,
            log=opts.log,
            max_wall_s=opts.wall_time,
            stagnation=opts.stagnation,
            callback=bar,
            verify=VerifyOptions(opts.verify, opts.verify_top_k, opts.max_energy_increase),
            racing=RacingOptions(opts.repeats, opts.max_repeats),
            warm=WarmStartOptions(opts.warm_start),
        )
        bar.close(f"({res.stop_reason})")
        runs.append(res)
    return NetworkOutcome(
        network, hardware, activity, lower_bound(network, hardware, activity), runs, []
    )


def _figures(
    outcome: NetworkOutcome, outdir: str, log_path: str, runner: str = "local"
) -> list[str]:
    from ..report.figures import plot_convergence, plot_pareto, plot_utilisation
    from ..report.placement import plot_placement
    from ..sim import evaluate

    net, hw, best = outcome.network, outcome.hardware, outcome.best
    stem = os.path.join(outdir, "{}_" + net.name + ".png")
    names = [layer.name for layer in net.layers]
    fid = best.verify_fidelity or best.fidelity
    panels = [
        (label, m, evaluate(net, m, hw, outcome.activity, _resimulated(fid)))
        for label, m in (
            ("Lava default", best.default_mapping),
            (f"best found ({best.strategy})", best.best_mapping),
        )
    ]
    where = f"{net.name} on {hw.name}"
    searched = f"{_measured_by(best.fidelity)}, runner {runner}"
    resimulated = f"{_resimulated(fid)} simulator, re-run locally"
    if fid == STANDIN_FIDELITY:
        resimulated += " with the default constants (the stand-in's are hidden)"
    paths = [
        plot_convergence(
            [(r.strategy, r.history) for r in outcome.runs],
            stem.format("convergence"),
            default_s=best.history[0],  # evaluation 1, at the search fidelity
            lower_bound_s=outcome.lower_bound_s,
            title=f"Convergence: {where}",
            measured_by=searched,
        ),
        plot_placement(
            hw,
            panels,
            names,
            stem.format("placement"),
            title=f"Placement: {where}",
            measured_by=resimulated,
        ),
        plot_utilisation(
            panels,
            names,
            stem.format("utilisation"),
            title=f"Per-core utilisation: {where}",
            measured_by=resimulated,
        ),
    ]
    if len(best.objectives) == 2:
        front = _pareto(outcome)
        paths.append(
            plot_pareto(
                [(p["latency_s"], p["energy_j"]) for p in front],
                stem.format("pareto"),
                measured=_measured(log_path, net, hw),
                default=(best.default_result.latency_s, best.default_result.energy_j),
                best=(best.best_result.latency_s, best.best_result.energy_j),
                title=f"Pareto front: {where}",
                measured_by=searched,
            )
        )
    return paths


def _pareto(outcome: NetworkOutcome) -> list[dict]:
    from ..search.selection import pareto_front

    points = {
        json.dumps(m.to_json(), sort_keys=True): r for run in outcome.runs for m, r in run.pareto
    }
    results = list(points.values())
    if not results:
        return []
    F = np.array([[r.latency_s, r.energy_j] for r in results])
    return [
        {
            "latency_s": float(F[i, 0]),
            "energy_j": float(F[i, 1]),
            "cores_used": int(results[i].counters.get("cores_used", 0)),
        }
        for i in sorted(pareto_front(F), key=lambda i: tuple(F[i]))
    ]


def _measured(log_path: str, network, hardware) -> list[tuple[float, float]]:
    from ..measure.log import TuningLog

    keys = (network.workload_key(), hardware.key())
    return [
        (r.result.latency_s, r.result.energy_j)
        for r in TuningLog(log_path).records()
        if r.result.ok and (r.input.workload_key, r.input.hardware_key) == keys
    ]


def _network_summary(outcome: NetworkOutcome) -> dict:
    best = outcome.best
    default_m, best_m = metrics_of(best.default_result), metrics_of(best.best_result)
    lb = outcome.lower_bound_s
    change = change_of(default_m, best_m)
    return {
        "name": outcome.network.name,
        "workload_key": outcome.network.workload_key(),
        "layer_sizes": list(outcome.network.layer_sizes),
        "n_samples": outcome.activity.n_samples,
        "lower_bound_s": lb,
        "default": default_m,
        "best": best_m,
        "best_strategy": best.strategy,
        "best_mapping": best.best_mapping.to_json(),
        "change": change,
        "energy_sign_differs": energy_sign_differs(change),
        "ratio_to_lower_bound": {
            "default": default_m["total_latency_s"] / lb,
            "best": best_m["total_latency_s"] / lb,
        },
        "runs": [run_of(r) for r in outcome.runs],
        "pareto": _pareto(outcome) if len(best.objectives) == 2 else [],
        "max_energy_increase": best.max_energy_increase,
        "fastest": None if best.fastest is None else metrics_of(best.fastest[1]),
        "hosts": outcome.runs[-1].hosts,  # the runner's per-host counts (cumulative over runs)
        "confirmation": best.confirmation,
    }


def _summary(opts: TuneOptions, model: str, hardware, outcomes, figures) -> dict:
    return validate_summary(
        {
            "schema": SUMMARY_SCHEMA,
            "version": SUMMARY_VERSION,
            "model": os.path.abspath(model),
            "hardware": {
                "name": hardware.name,
                "key": hardware.key(),
                "n_cores": hardware.n_cores,
                "n_chips": hardware.n_chips,
            },
            "fidelity": opts.fidelity,
            "verify_fidelity": opts.verify,
            "verify_top_k": opts.verify_top_k if opts.verify else None,
            "objectives": list(opts.objectives),
            "max_energy_increase": opts.max_energy_increase,
            "strategies": list(opts.strategies),
            "budget": opts.budget,
            "seed": opts.seed,
            "runner": opts.runner,
            "log": os.path.abspath(opts.log),
            "outdir": os.path.abspath(opts.outdir),
            "figures": [os.path.abspath(p) for p in figures],
            "networks": [_network_summary(o) for o in outcomes],
        }
    )


def _hosts_line(outcome: NetworkOutcome) -> str:
    """Which host measured what, and how the reported best was checked (issue #11.3)."""
    parts = [
        f"{host} measured {s['measured']}, rejected {s['rejected']}"
        + (
            f" in {s['calls']} request(s) (mean batch {s['mean_batch']:.1f}, RPC overhead "
            f"{s['overhead_ms']:.1f} ms/candidate)"
            if s.get("calls")
            else ""
        )
        + (" (dropped)" if s["dropped"] else "")
        for host, s in outcome.runs[-1].hosts.items()
    ]
    conf = outcome.best.confirmation or {}
    check = ""
    if conf.get("confirmed_by"):
        check = f"; best re-measured on {conf['confirmed_by']}"
    if conf.get("rejected"):
        check += f", {len(conf['rejected'])} better-looking result(s) rejected"
    return "hosts: " + ("; ".join(parts) or "none") + check


def _repeats_line(outcome: NetworkOutcome) -> str:
    """Repeats spent on noise (issue #14.4) and warm-start seeds (#14.5), per run."""
    parts = []
    for r in outcome.runs:
        noise = "" if r.noise is None else f", measured noise {r.noise * 100:.2f} %"
        warm = f", {r.warm_seeds} warm-start seed(s)" if r.warm_seeds else ""
        parts.append(f"{r.strategy}: {r.repeats} of {r.evaluations} evaluations{noise}{warm}")
    return "repeats: " + "; ".join(parts)


def _title(outcome: NetworkOutcome) -> str:
    net, hw, best = outcome.network, outcome.hardware, outcome.best
    evals = sum(r.hardware_evaluations for r in outcome.runs)
    model_evals = sum(r.model_evaluations for r in outcome.runs)
    counted = f"{evals} hardware evaluations" if model_evals else f"{evals} evaluations"
    if model_evals:
        counted += f" and {model_evals} model evaluations (not measurements)"
    sizes = "-".join(map(str, net.layer_sizes))
    fidelity = _measured_by(best.fidelity)
    if best.verify_fidelity:
        fidelity = (
            f"searched on the {_measured_by(best.fidelity)}, Lava default and best of "
            f"{best.verify_evaluations - best.verify_repeats} verified mappings compared on the "
            f"{_measured_by(best.verify_fidelity)}"
        )
        if best.verify_repeats:
            fidelity += f" ({best.verify_repeats} race repeats)"
    budget = ""
    if best.max_energy_increase is not None:
        budget = (
            f", fastest within {_percent(best.max_energy_increase)} of the default's energy "
            f"(unconstrained fastest: {format_quantity(best.fastest[1].latency_s, 's')}, "
            f"{format_quantity(best.fastest[1].energy_j, 'J')})"
        )
    return (
        f"{net.name} ({sizes}) on {hw.name} ({hw.n_cores} cores, {hw.n_chips} chip(s)), "
        f"{fidelity}: best of {', '.join(r.strategy for r in outcome.runs)} "
        f"after {counted} (best by {best.strategy}){budget}"
    )


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _select(pairs: list, which: str) -> list:
    if which == "largest" and len(pairs) > 1:
        return [
            max(pairs, key=lambda p: (sum(p[0].layer_sizes[1:]), sum(x.nnz for x in p[0].layers)))
        ]
    return pairs


def _replay_command(opts: TuneOptions, model: str) -> str:
    extra = f" --calibration {opts.calibration}" if opts.calibration else ""
    extra += f" --outputs {' '.join(opts.outputs)}" if opts.outputs else ""
    extra += f" --input-layer {opts.input_layer}" if opts.input_layer != "host" else ""
    clip = opts.weight_clip_percentile
    extra += f" --weight-clip-percentile {clip:g}" if clip is not None else ""
    extra += f" --fidelity {opts.verify}" if opts.verify else ""
    if opts.max_energy_increase is not None:
        extra += f" --max-energy-increase {_percent(opts.max_energy_increase)}"
    return (
        f"tvm-loihi compile {model} --hardware {opts.hardware or opts.default_hardware}{extra} "
        f"--log {opts.log} "
        "-o model.so"
    )


def _resume_command(opts: TuneOptions) -> str:
    """The command as the user typed it, with the log named explicitly."""
    import shlex

    argv = list(opts.argv)
    if not any(a == "--log" or a.startswith("--log=") for a in argv):
        argv += ["--log", opts.log]
    return shlex.join(["tvm-loihi", *argv])


def _run_all(opts: TuneOptions, model, calibration, runner, hardware) -> list:
    mod = inputs.load_model(model, list(opts.outputs) if opts.outputs else None)
    networks = inputs.offloaded_networks(
        mod,
        hardware,
        calibration,
        opts.input_layer,
        weight_clip_percentile=opts.weight_clip_percentile,
    )
    pairs = _select(networks, opts.networks)
    print(
        f"model {model}: {len(pairs)} offloaded network(s) to tune on {hardware.name}",
        file=sys.stderr,
    )
    return [_tune_one(net, hw, runner, opts, calibration) for net, hw in pairs]


def cmd_tune(args) -> int:
    """Run ``tvm-loihi tune`` (see the module docstring)."""
    opts = TuneOptions.from_args(args)
    hardware = inputs.resolve_hardware(opts.hardware, opts.default_hardware)
    # Files first (no TVM needed), then the farm: every bad argument fails before any work.
    model = inputs.model_path(opts.model, opts.workload, opts.outdir)
    calibration = inputs.load_calibration(opts.calibration)
    if opts.log_given:
        inputs.check_writable(opts.log, "--log")
    for path in opts.warm_start:
        if not os.path.isfile(path):
            raise CliError(f"--warm-start {path!r}: no such tuning log")
    from ..measure.rpc_runner import HostUnavailable

    # an unreachable farm (or a refused secret) fails before any work
    runner = inputs.make_runner(opts.runner, opts.secret_file)
    try:
        os.makedirs(opts.outdir, exist_ok=True)
        outcomes = _run_all(opts, model, calibration, runner, hardware)
    except HostUnavailable as err:  # the farm went away mid-run (FarmUnavailable): how to resume
        raise CliError(
            f"{err} (tuning log: {os.path.abspath(opts.log)}; resume with: {_resume_command(opts)})"
        ) from None
    except KeyboardInterrupt:
        print(
            f"\ntvm-loihi tune: interrupted; every finished measurement is in {opts.log}. "
            f"Resume (nothing is measured twice) with:\n  {_resume_command(opts)}",
            file=sys.stderr,
        )
        return 130
    finally:
        runner.close()
    figures = []
    for outcome in outcomes:
        best = outcome.best
        print(
            format_comparison(
                _title(outcome),
                metrics_of(best.default_result),
                metrics_of(best.best_result),
                outcome.lower_bound_s,
                outcome.activity.n_samples,
            )
            + "\n"
        )
        print(_hosts_line(outcome), file=sys.stderr)
        if any(r.repeats or r.warm_seeds for r in outcome.runs):
            print(_repeats_line(outcome), file=sys.stderr)
        figures += _figures(outcome, opts.outdir, opts.log, opts.runner)
    summary = _summary(opts, model, hardware, outcomes, figures)
    print("figures:\n" + "\n".join(f"  {p}" for p in summary["figures"]))
    print(f"tuning log: {summary['log']}\nreplay it:  {_replay_command(opts, model)}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(summary, f, indent=2)
        print(f"summary: {os.path.abspath(opts.json)}")
    return 0
