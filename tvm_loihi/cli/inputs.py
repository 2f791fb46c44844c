"""Resolve what the user named on the command line: hardware, model, calibration samples, runner.

Each helper turns a bad argument into a :class:`CliError` naming the argument, the value and the
fix."""

from __future__ import annotations

import json
import os
from urllib.parse import urlparse

import numpy as np

from .errors import CliError

DEFAULT_KEY = "loihi2"


def resolve_hardware(text: str | None, default: str = "loihi2_1chip"):
    """A :class:`~tvm_loihi.model.hardware.HardwareSpec` from a preset name or a JSON spec file."""
    from ..model.hardware import PRESETS, HardwareSpec

    text = text or default
    if text in PRESETS:
        return PRESETS[text]
    known = ", ".join(sorted(PRESETS))
    if not (text.endswith(".json") or os.path.exists(text)):
        raise CliError(f"--hardware {text!r} is neither a preset ({known}) nor a JSON spec file")
    if not os.path.isfile(text):
        raise CliError(
            f"--hardware: spec file {text!r} does not exist (check the path, or use a preset: "
            f"{known})"
        )
    try:
        return HardwareSpec.load(text)
    except (ValueError, TypeError, json.JSONDecodeError) as err:
        raise CliError(
            f"--hardware {text}: not a valid hardware spec: {err} (start from "
            '`python -c "from tvm_loihi.model.hardware import get_preset; '
            "get_preset('loihi2_1chip').save('spec.json')\"`)"
        ) from None


def workload_onnx(name: str, directory: str) -> str:
    """Write reference workload ``name`` as ONNX into ``directory`` (once) and return the path."""
    from ..model import workloads

    if name not in workloads.WORKLOADS:
        raise CliError(
            f"--workload {name!r} is unknown; known: {', '.join(sorted(workloads.WORKLOADS))}"
        )
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.onnx")
    if not os.path.exists(path):
        workloads.write_onnx(name, path)
    return path


def model_path(model: str | None, workload: str | None, directory: str) -> str:
    """The ONNX file to work on: ``MODEL`` or the ``--workload`` written into ``directory``."""
    if workload:
        if model:
            raise CliError("give either MODEL.onnx or --workload NAME, not both")
        return workload_onnx(workload, directory)
    if not model:
        raise CliError("no model: give MODEL.onnx or --workload NAME (e.g. --workload mlp_a)")
    if not os.path.isfile(model):
        raise CliError(f"model file {model!r} does not exist (check the path)")
    return model


def default_hardware(workload: str | None) -> str:
    """The preset a ``--workload`` was made for, else ``loihi2_1chip``."""
    from ..model.workloads import WORKLOADS

    spec = WORKLOADS.get(workload or "")
    return spec.hardware if spec else "loihi2_1chip"


def load_model(path: str, outputs: list[str] | None):
    """Relax module of an ONNX file, cut to ``outputs`` when given (errors say what to do)."""
    from ..compiler.frontend import OnnxLoadError, UnsupportedOpsError, load_onnx

    try:
        return load_onnx(path, outputs=outputs or None)
    except OnnxLoadError as err:
        unsupported = isinstance(err, UnsupportedOpsError)
        text = err.message(_outputs_flag(err.reachable)) if unsupported else str(err)
        text = text[len(path) + 2 :] if text.startswith(f"{path}: ") else text
        raise CliError(f"cannot load {path}: {text}") from None


def _outputs_flag(names) -> str:
    """``--outputs a b`` as a user pastes it (names quoted only when the shell needs it)."""
    import shlex

    return "--outputs " + " ".join(shlex.quote(n) for n in names)


def check_writable(path: str, flag: str) -> None:
    """Fail now, not after the work, when ``path`` cannot be written (missing directory...)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CliError(f"{flag} {path}: is a directory; give a file path")
    if not os.path.isdir(directory):
        raise CliError(f"{flag} {path}: directory {directory!r} does not exist (create it first)")
    if not os.access(directory, os.W_OK):
        raise CliError(f"{flag} {path}: directory {directory!r} is not writable")


def load_calibration(path: str | None) -> np.ndarray | None:
    """Calibration samples ``(n_samples, ...)`` from a ``.npy`` file, or None."""
    if path is None:
        return None
    if not os.path.isfile(path):
        raise CliError(f"--calibration file {path!r} does not exist (check the path)")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise CliError(
            f"--calibration {path}: not a .npy array ({err}); save one with numpy.save"
        ) from None
    if x.ndim < 2 or len(x) < 1:
        raise CliError(
            f"--calibration {path}: expected (n_samples, ...) samples, got shape {x.shape}"
        )
    return x.astype(np.float32)


NOTHING_OFFLOADED = (
    "nothing in the model is offloaded to Loihi (it needs dense layers -- Gemm, "
    "or MatMul [+ Add] [+ Relu] -- with constant weights)"
)


def offloaded_networks(
    mod,
    hardware,
    calibration,
    input_layer: str = "host",
    required: bool = True,
    weight_clip_percentile: float | None = None,
) -> list:
    """The ``(NetworkIR, HardwareSpec)`` pairs a build offloads (keys as ``tvm-loihi compile``);
    none is a :class:`CliError` unless ``required`` is False."""
    from ..compiler.pipeline import LoihiConfig
    from ..compiler.replay import extract_networks

    config = LoihiConfig(
        hardware=hardware,
        calibration=calibration,
        input_layer=input_layer,
        weight_clip_percentile=weight_clip_percentile,
    )
    pairs = extract_networks(mod, config=config)
    if not pairs and required:
        raise CliError(f"{NOTHING_OFFLOADED}; `tvm-loihi inspect MODEL.onnx` says why per operator")
    return pairs


def activity_for(network, hardware, calibration: np.ndarray | None):
    """Spike activity for the simulator.

    The calibration samples when they feed this network directly (same input width), else the
    64 fixed seeded sample inputs of :func:`tvm_loihi.tune.default_activity`. Never the search
    seed or a user-chosen sample count: the tuning log's cache key (workload, hardware, mapping,
    fidelity) does not include the activity, so the activity must follow from the workload alone.
    (Calibration samples change the quantisation, hence the workload key.)
    """
    from ..model.activity import activity_from_float

    return activity_from_float(network, samples_for(network, hardware, calibration)[0])


def samples_for(network, hardware, calibration: np.ndarray | None) -> tuple[np.ndarray, str]:
    """The float inputs behind :func:`activity_for`, and what they are (for reports)."""
    from ..tuning.defaults import default_samples

    if calibration is not None:
        x = calibration.reshape(len(calibration), -1)
        if x.shape[1] == network.n_inputs:
            return x, f"the {len(x)} --calibration samples"
    x = default_samples(network, hardware)
    return x, f"{len(x)} seeded sample inputs in [0, 1)"


def parse_runner(spec: str) -> tuple[str, int, str] | None:
    """None for ``local``; ``(host, port, key)`` for ``rpc://HOST:PORT[/KEY]``."""
    if spec == "local":
        return None
    url = urlparse(spec)
    try:
        port = url.port
    except ValueError:
        port = None
    if url.scheme != "rpc" or not url.hostname or port is None:
        raise CliError(
            f"--runner {spec!r}: use 'local' or rpc://HOST:PORT[/KEY] "
            f"(e.g. rpc://127.0.0.1:9190/{DEFAULT_KEY})"
        )
    return url.hostname, port, url.path.strip("/") or DEFAULT_KEY


def make_runner(spec: str, secret_file: str | None = None):
    """A :class:`~tvm_loihi.measure.runner.Runner` for ``--runner`` (``secret_file``: the farm's
    secret, else ``$TVM_LOIHI_SECRET_FILE`` / ``$TVM_LOIHI_SECRET``)."""
    from ..measure.runner import LocalRunner

    target = parse_runner(spec)
    if target is None:
        return LocalRunner()
    from ..measure.auth import AuthenticationError, SecretError
    from ..measure.rpc_runner import HostUnavailable, RPCRunner, TrackerUnreachable

    host, port, key = target
    try:
        return RPCRunner(host, port, key, secret_file=secret_file)
    except (AuthenticationError, SecretError) as err:
        raise CliError(f"--runner {spec}: {err}") from None
    except TrackerUnreachable as err:
        raise CliError(
            f"--runner {spec}: cannot reach an RPC tracker at {host}:{port} ({err}); start one "
            f"with `tvm-loihi tracker --port {port}`"
        ) from None
    except HostUnavailable as err:
        raise CliError(
            f"--runner {spec}: {err}; start hosts with `tvm-loihi serve --tracker {host}:{port} "
            f"--key {key}`"
        ) from None
    except OSError as err:
        raise CliError(
            f"--runner {spec}: cannot reach an RPC tracker at {host}:{port} ({err}); start one "
            f"with `tvm-loihi tracker --port {port}`"
        ) from None
