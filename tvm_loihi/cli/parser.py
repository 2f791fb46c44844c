"""The ``tvm-loihi`` argument parser (usage errors are one line, exit code 2)."""

from __future__ import annotations

import argparse
import os
import sys

from ..constants import MEASURE_FIDELITIES
from .farm_cmd import env_default

EPILOG = (
    "docs/cli.md has examples of every command. Errors are one line; add --verbose for tracebacks."
)


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) that says where to look."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


# Argument checks run while parsing, so a bad flag value is a usage error (one line, exit 2, as
# docs/cli.md says) found before any model is loaded. Each returns the value the commands expect
# (the string for names they parse themselves).
def _positive_int(what: str):
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{value}: must be at least 1 {what}")
        return value

    return check


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be a positive, finite number of seconds")
    return value


def _percentile(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid percentile: {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"{text}: must be a percentile in (0, 100]")
    return value


def _energy_increase(text: str) -> float:
    from ..measure.energy_budget import parse_energy_increase

    try:
        return parse_energy_increase(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _strategies(text: str) -> str:
    from ..search import strategy_names
    from ..tuning import surrogate  # noqa: F401  (registers "surrogate")

    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in strategy_names()]
    if not names or unknown:
        what = f"unknown {unknown}" if unknown else "no strategy named"
        raise argparse.ArgumentTypeError(
            f"{text!r}: {what}; known: {', '.join(strategy_names())} (comma-separate several)"
        )
    return text


def _objectives(text: str) -> str:
    objectives = [o.strip() for o in text.split(",")]
    if objectives not in (["latency"], ["energy"], ["latency", "energy"], ["energy", "latency"]):
        raise argparse.ArgumentTypeError(f"{text!r}: use 'latency' or 'latency,energy'")
    return text


def _hardware(text: str) -> str:
    from ..model.hardware import PRESETS

    if text in PRESETS or text.endswith(".json") or os.path.exists(text):
        return text  # a spec file is read (and its values checked) by the command
    raise argparse.ArgumentTypeError(
        f"{text!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor a JSON spec file"
    )


def _workload(text: str) -> str:
    from ..model.workloads import WORKLOADS

    if text not in WORKLOADS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is unknown; known: {', '.join(sorted(WORKLOADS))}"
        )
    return text


def _runner(text: str) -> str:
    from .errors import CliError
    from .inputs import parse_runner

    try:
        parse_runner(text)
    except CliError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {str(err).split(': ', 1)[-1]}") from None
    return text


def _model_args(p: argparse.ArgumentParser, workload: bool = True) -> None:
    p.add_argument("model", nargs="?", metavar="MODEL.onnx", help="the ONNX model")
    if workload:
        p.add_argument(
            "--workload",
            metavar="NAME",
            type=_workload,
            help="use a reference workload (mlp_tiny, mlp_a, ...) "
            "written as ONNX instead of MODEL.onnx",
        )
    p.add_argument(
        "--outputs",
        nargs="+",
        metavar="NAME",
        help="cut the ONNX graph to these value names first (drops ops TVM cannot import)",
    )
    p.add_argument(
        "--hardware",
        metavar="PRESET|spec.json",
        type=_hardware,
        help="hardware preset (loihi2_1chip, loihi2_2chip, kapoho_point, ...) or a JSON spec "
        "(default: loihi2_1chip, or the workload's preset)",
    )
    p.add_argument(
        "--calibration",
        metavar="X.npy",
        help="typical model inputs (n_samples, ...) fixing the "
        "quantisation and driving the simulator; must match between tune and compile",
    )
    p.add_argument(
        "--input-layer",
        choices=("host", "chip"),
        default="host",
        help="where the input enters: host = straight into layer 1's synapses (Lava's adapter, "
        "default); chip = an on-chip input population the mapper places and splits (lava-dl "
        "netx style); must match between tune and compile",
    )
    p.add_argument(
        "--weight-clip-percentile",
        metavar="P",
        type=_percentile,
        help="take each layer's 8-bit weight step from the P-th percentile of its |W| (0 < P <= "
        "100) instead of the largest, saturating the outliers above it (a QuantizationWarning "
        "suggests it); must match between tune and compile",
    )


def _tune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strategy",
        default="bilevel",
        type=_strategies,
        help="search strategy, or several comma-separated "
        "(bilevel, ga, nsga2, random, annealing, metis_greedy, lava_default, surrogate: search "
        "the simulator calibrated on the measurements, measure only its best candidates; "
        "default bilevel)",
    )
    p.add_argument(
        "--budget",
        type=_positive_int("evaluation"),
        default=200,
        help="evaluations per strategy and network (default 200)",
    )
    p.add_argument(
        "--wall-time",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop each strategy's search after this much wall time (what is in flight is "
        "abandoned; the log keeps everything measured)",
    )
    p.add_argument(
        "--stagnation",
        type=_positive_int("evaluation"),
        metavar="N",
        help="stop a strategy after N evaluations without improving its best",
    )
    p.add_argument(
        "--objectives",
        default="latency",
        type=_objectives,
        help="latency or latency,energy (default latency)",
    )
    p.add_argument(
        "--runner",
        default="local",
        type=_runner,
        help="local (in-process simulator) or rpc://HOST:PORT/KEY "
        "(measurement hosts behind a tracker)",
    )
    p.add_argument(
        "--secret-file",
        metavar="PATH",
        help="the farm's shared secret for rpc:// (default $TVM_LOIHI_SECRET_FILE, "
        "$TVM_LOIHI_SECRET)",
    )
    p.add_argument(
        "--fidelity",
        default="fast",
        choices=MEASURE_FIDELITIES,
        help="what to measure at: fast or event simulator, or standin (the silicon stand-in; "
        "needs --runner rpc:// hosts started with --backend standin)",
    )
    p.add_argument(
        "--verify",
        choices=MEASURE_FIDELITIES,
        help="re-measure the search's best mappings and the Lava default at this fidelity and "
        "report the best there (not counted in --budget)",
    )
    p.add_argument(
        "--verify-top-k",
        type=_positive_int("mapping"),
        default=8,
        help="how many of the search's best distinct mappings --verify measures (default 8)",
    )
    p.add_argument(
        "--max-energy-increase",
        type=_energy_increase,
        metavar="PCT",
        help="report (and replay) the fastest measured mapping whose energy per inference is at "
        "most PCT (e.g. 10%%) above the Lava default's (with --verify: of the verified ones)",
    )
    p.add_argument(
        "--log", help="tuning log, JSON lines (default OUTDIR/tune.jsonl); reused as a cache"
    )
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument(
        "--networks",
        default="all",
        choices=("all", "largest"),
        help="tune every offloaded network (default) or only the largest",
    )
    p.add_argument("--json", metavar="SUMMARY.json", help="also write a machine-readable summary")
    p.add_argument(
        "--repeats",
        default="auto",
        type=_repeats,
        metavar="auto|N",
        help="noise-robust selection: race a close challenger against the incumbent with up to N "
        "samples per mapping (auto: --max-repeats on a noisy fidelity such as standin, none on "
        "the simulator; 1: off); repeats count against --budget (default auto)",
    )
    p.add_argument(
        "--max-repeats",
        type=_positive_int("sample"),
        default=5,
        help="samples per mapping at most with --repeats auto (default 5)",
    )
    p.add_argument(
        "--warm-start",
        nargs="+",
        metavar="LOG",
        default=None,
        help="seed the search with the best mappings of earlier tuning logs (other networks or "
        "hardware), repaired to this problem and measured like any candidate",
    )


def _repeats(text: str):
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: 'auto' or a number of samples per mapping >= 1"
        )
    return n


def _add_tune(sub) -> None:
    p = sub.add_parser("tune", help="search a mapping; print Lava default vs best; write figures")
    _model_args(p)
    _tune_args(p)
    p.add_argument(
        "--outdir", default="tvm-loihi-out", help="figures, log and workload ONNX go here"
    )
    p = sub.add_parser(
        "demo", help="tune the reference workload mlp_a on the simulator (small budget)"
    )
    _model_args(p)
    _tune_args(p)
    p.add_argument(
        "--outdir", default="tvm-loihi-demo", help="figures, log and workload ONNX go here"
    )
    p.set_defaults(workload="mlp_a", budget=200)


def _add_build(sub) -> None:
    p = sub.add_parser("compile", help="tvm.compile(target='loihi2') with the best logged mappings")
    _model_args(p)
    p.add_argument("--log", help="tuning log to replay (omit: Lava default mapping)")
    p.add_argument(
        "--fidelity",
        choices=MEASURE_FIDELITIES,
        help="replay only records measured at this fidelity (tune --verify event prints it)",
    )
    p.add_argument(
        "--max-energy-increase",
        type=_energy_increase,
        metavar="PCT",
        help="replay the fastest record whose energy is at most PCT above the Lava default's "
        "record at the same fidelity",
    )
    p.add_argument("-o", "--output", required=True, metavar="model.so", help="library to write")
    p = sub.add_parser("run", help="run a compiled model on an input batch")
    p.add_argument("model", metavar="model.so")
    p.add_argument(
        "--input", required=True, metavar="X.npy", help="input batch (the model's input shape)"
    )
    p.add_argument(
        "--backend",
        default="reference",
        choices=("reference", "lava"),
        help="bit-exact numpy reference (default) or Lava's Loihi 2 simulator",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.npy",
        help="write exactly this file: the output as .npy, several outputs as one .npz archive "
        "with arrays named by the ONNX outputs",
    )
    p.add_argument(
        "--reference",
        metavar="REF.npy",
        help="compare with reference outputs (e.g. onnxruntime's): relative L2 error, max abs "
        "error, argmax agreement; .npz named by the outputs for several",
    )
    p = sub.add_parser("inspect", help="what is offloaded and why not, cores per layer, resources")
    _model_args(p)
    p.add_argument("--json", metavar="REPORT.json", help="also write the report as JSON")


def _add_farm(sub) -> None:
    p = sub.add_parser(
        "serve", help="a measurement host registered with a tracker ($TVM_LOIHI_* defaults)"
    )
    p.add_argument(
        "--tracker", default=env_default("TVM_LOIHI_TRACKER", ""), help="tracker HOST:PORT"
    )
    p.add_argument(
        "--key", default=env_default("TVM_LOIHI_KEY", "loihi2"), help="device key (loihi2)"
    )
    p.add_argument(
        "--backend",
        default=env_default("TVM_LOIHI_BACKEND", "sim"),
        choices=("sim", "fast", "event", "standin"),
        help="what measures (default sim: both fidelities; standin: the silicon stand-in, "
        "fidelity standin)",
    )
    p.add_argument(
        "--standin-seed",
        type=int,
        metavar="S",
        help="seed of the stand-in's hidden constants (required with --backend standin)",
    )
    p.add_argument(
        "--standin-cv",
        type=float,
        default=0.02,
        metavar="CV",
        help="stand-in run-to-run noise as a coefficient of variation (default 0.02)",
    )
    p.add_argument(
        "--standin-cost",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="stand-in wall-clock seconds per measurement (default 0.5)",
    )
    p.add_argument(
        "--host", default=env_default("TVM_LOIHI_HOST", "127.0.0.1"), help="address to bind"
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(env_default("TVM_LOIHI_PORT", "9091")),
        help="first port to try (default 9091)",
    )
    p.add_argument(
        "--custom-addr",
        default=env_default("TVM_LOIHI_CUSTOM_ADDR", ""),
        help="address to report to the tracker (default: the one it sees)",
    )
    _auth_args(p)
    p = sub.add_parser(
        "tracker",
        help="start the farm's RPC tracker, or `tracker status`: its hosts and queues "
        "($TVM_LOIHI_* defaults)",
    )
    p.add_argument(
        "action",
        nargs="?",
        default="start",
        choices=("start", "status"),
        help="start (default) a tracker, or print the status of the one at --host:--port",
    )
    p.add_argument(
        "--host",
        default=env_default("TVM_LOIHI_HOST", "127.0.0.1"),
        help="address to bind (status: the tracker's address)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(env_default("TVM_LOIHI_PORT", "9190")),
        help="port (default 9190)",
    )
    p.add_argument("--port-end", type=int, default=None, help="last port to try (default port+10)")
    p.add_argument("--json", action="store_true", help="status: print JSON instead of tables")
    p.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="status: give up on a tracker that does not answer within this (default 5)",
    )
    _auth_args(p)


def _auth_args(p) -> None:
    p.add_argument(
        "--secret-file",
        metavar="PATH",
        default=env_default("TVM_LOIHI_SECRET_FILE", "") or None,
        help="file holding the farm's shared secret (else $TVM_LOIHI_SECRET); never on the "
        "command line",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="run without a secret (prints a warning): anyone who reaches it can use it",
    )


def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit the simulator's assumed constants to a tuning log's measurements",
    )
    p.add_argument("log", metavar="LOG.jsonl", help="tuning log holding the measurements")
    _model_args(p)
    p.add_argument(
        "-o", "--output", required=True, metavar="fitted.json", help="fitted HardwareSpec JSON"
    )
    p.add_argument(
        "--fidelity",
        choices=MEASURE_FIDELITIES,
        help="use only records measured at this fidelity (default: all)",
    )
    p.add_argument(
        "--fit-model",
        default="fast",
        choices=("fast", "event"),
        help="simulator fidelity fitted (default fast)",
    )
    p.add_argument(
        "--holdout",
        type=float,
        default=0.25,
        help="share of records held out for the quality report (default 0.25)",
    )
    p.add_argument(
        "--max-records",
        type=_positive_int("record"),
        default=200,
        help="training records used at most (default 200)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the hold-out split (default 0)")
    p.add_argument("--json", metavar="FIT.json", help="also write the fit report as JSON")


def _add_log(sub) -> None:
    p = sub.add_parser("log", help="summarise a tuning log or show its best records")
    p.add_argument("action", choices=("summary", "best"))
    p.add_argument("log", metavar="LOG.jsonl")
    p.add_argument("--objective", default="latency", choices=("latency", "energy"))
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_list(sub) -> None:
    from .list_cmd import SECTIONS

    p = sub.add_parser(
        "list", help="hardware presets and target tags, workloads, strategies, backends"
    )
    p.add_argument("section", nargs="?", choices=SECTIONS, help="print only this section")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def build_parser() -> OneLineParser:
    """The full ``tvm-loihi`` parser; each subcommand sets ``args.command``."""
    parser = OneLineParser(
        prog="tvm-loihi",
        description="Tune, build and run sparse MLPs on Intel Loihi 2 from TVM.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="tracebacks and TVM logs on errors"
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser
    )
    for add in (_add_tune, _add_build, _add_farm, _add_calibrate, _add_log, _add_list):
        add(sub)
    for name, p in sub.choices.items():
        p.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="tracebacks and TVM logs on errors",
        )
        p.prog = f"tvm-loihi {name}"
    return parser
