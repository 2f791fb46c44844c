"""``tvm-loihi calibrate LOG [MODEL.onnx | --workload NAME] --hardware H -o fitted.json``: fit the
simulator's assumed per-event constants to the measured records of a tuning log
(:func:`tvm_loihi.tuning.fit.calibrate`) and write the fitted HardwareSpec JSON, usable wherever a
preset is (``--hardware fitted.json``)."""

from __future__ import annotations

import json
import os
import sys
import tempfile

from . import inputs
from .errors import CliError


def cmd_calibrate(args) -> int:
    """Run ``tvm-loihi calibrate`` (see the module docstring)."""
    from ..tuning.fit import calibrate, format_fit

    if not os.path.isfile(args.log):
        raise CliError(f"log {args.log!r} does not exist (tune first, or check the path)")
    if not 0 <= args.holdout < 1:
        raise CliError(f"--holdout {args.holdout}: must be in [0, 1)")
    workload = getattr(args, "workload", None)
    hardware = inputs.resolve_hardware(args.hardware, inputs.default_hardware(workload))
    with tempfile.TemporaryDirectory(prefix="tvm_loihi_calibrate_") as tmp:
        model = inputs.model_path(args.model, workload, tmp)
        calibration = inputs.load_calibration(args.calibration)
        mod = inputs.load_model(model, args.outputs)
        pairs = inputs.offloaded_networks(
            mod,
            hardware,
            calibration,
            args.input_layer,
            weight_clip_percentile=args.weight_clip_percentile,
        )
    nets = [net for net, _ in pairs]
    acts = [inputs.activity_for(net, hw, calibration) for net, hw in pairs]
    try:
        fit = calibrate(
            args.log,
            hardware,
            nets,
            acts,
            fidelity=args.fidelity,
            holdout=args.holdout,
            seed=args.seed,
            model=args.fit_model,
            max_records=args.max_records,
            progress=lambda line: print(f"calibrate: {line}", file=sys.stderr, flush=True),
        )
    except ValueError as err:
        raise CliError(str(err)) from None
    fit.hardware.save(args.output)
    print(format_fit(fit))
    print(
        f"fitted hardware spec: {os.path.abspath(args.output)} (use --hardware {args.output})",
        file=sys.stderr,
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fit.to_json(), f, indent=2)
    return 0
