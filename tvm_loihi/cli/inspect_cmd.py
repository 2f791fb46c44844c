"""``tvm-loihi inspect MODEL.onnx``: what is offloaded and why the rest is not, and what it needs.

Three parts: every operator of ``main`` with where it runs (and the hardware reason when it stays on
the host); per offloaded network, a per-layer resource table (fewest cores per layer and, under the
Lava default mapping, the largest per-core use of each limit); and the total the Lava default uses
of the hardware."""

from __future__ import annotations

import json

from ..report.table import format_resources, format_table
from . import inputs

LIMITS = ("max_neurons", "synmem_words", "max_input_axons", "max_output_axons")


def _operators(mod, hardware) -> list[dict]:
    from ..compiler.partition import explain_offload

    return [
        {
            "var": d.var,
            "op": d.op,
            "on_loihi": d.on_loihi,
            "pattern": d.pattern,
            "reasons": list(d.reasons),
        }
        for d in explain_offload(mod, hardware)
    ]


def _layers(network, hardware) -> tuple[list[dict], object]:
    from ..model.mapping import lava_default_mapping, layer_usage, min_cores_per_layer

    cores = min_cores_per_layer(network, hardware)
    mapping = lava_default_mapping(network, hardware)
    stats = [mapping.layer_stats(network, hardware, k) for k in range(network.depth)]
    rows = []
    for k, layer in enumerate(network.layers):
        usage = layer_usage(
            stats[k], stats[k + 1] if k + 1 < network.depth else None, mapping.bounds[k]
        )
        rows.append(
            {
                "name": layer.name,
                "neurons": layer.n_out,
                "inputs": layer.n_in,
                "synapses": layer.nnz,
                "density": layer.density,
                "min_cores": int(cores[k]),
                "max_use": {lim: int(usage[lim].max()) for lim in LIMITS},
            }
        )
    return rows, mapping


def _print_operators(ops: list[dict]) -> None:
    rows = [
        [
            o["var"],
            o["op"],
            f"loihi ({o['pattern']})" if o["on_loihi"] else "host",
            "" if o["on_loihi"] else ("; ".join(o["reasons"]) or "no Loihi pattern for this op"),
        ]
        for o in ops
    ]
    n_on = sum(o["on_loihi"] for o in ops)
    print(f"operators of main: {n_on} of {len(ops)} offloaded to Loihi")
    print(format_table(["var", "op", "runs on", "why not on Loihi"], rows, align="llll") + "\n")


def _print_quantization(network, hardware, calibration) -> list[dict]:
    """The per-layer quantisation table (:func:`tvm_loihi.model.quant_report.quantization_report`)
    on the samples the simulator's activity comes from."""
    from ..model.quant_report import quantization_report

    x, what = inputs.samples_for(network, hardware, calibration)
    rows = quantization_report(network, x)
    table = [
        [
            r["name"],
            "-" if r["weight_exponent"] is None else f"2^{r['weight_exponent']}",
            "-" if r["shift"] is None else r["shift"],
            f"{r['peak']} / {r['target']}",
            f"{r['range_use']:.0%}",
            f"{r['saturated']:.1%}",
            f"{r['rounded_to_zero']:.1%}",
        ]
        for r in rows
    ]
    print(f"quantisation on {what}:")
    print(
        format_table(
            [
                "layer",
                "weight step",
                "shift",
                "peak / range",
                "range use",
                "saturated",
                "rounded to 0",
            ],
            table,
            align="lrrrrrr",
        )
        + "\n"
    )
    return rows


def cmd_inspect(args) -> int:
    """Print (and with ``--json`` write) the offload report of a model."""
    hardware = inputs.resolve_hardware(args.hardware)
    model = inputs.model_path(args.model, getattr(args, "workload", None), ".")
    mod = inputs.load_model(model, args.outputs)
    ops = _operators(mod, hardware)
    _print_operators(ops)
    report = {
        "hardware": hardware.name,
        "n_cores": hardware.n_cores,
        "operators": ops,
        "networks": [],
    }
    limits = {lim: int(getattr(hardware.limits, lim)) for lim in LIMITS}
    calibration = inputs.load_calibration(args.calibration)
    pairs = inputs.offloaded_networks(
        mod,
        hardware,
        calibration,
        args.input_layer,
        required=False,
        weight_clip_percentile=args.weight_clip_percentile,
    )
    if not pairs:
        print(f"{inputs.NOTHING_OFFLOADED}: every operator runs on the host, for the reasons above")
    for network, hw in pairs:
        rows, mapping = _layers(network, hw)
        used = mapping.n_cores_used
        chips = len({int(c) // hw.cores_per_chip for c in mapping.core_ids})
        print(
            f"network {network.name}: layers {'-'.join(map(str, network.layer_sizes))} "
            f"(workload {network.workload_key()})"
        )
        print(format_resources(rows, limits))
        print(
            f"Lava default mapping: {used} of {hw.n_cores} cores "
            f"({used / hw.n_cores * 100:.0f} %) on "
            f"{chips} of {hw.n_chips} chip(s) of {hw.name}\n"
        )
        quant = _print_quantization(network, hw, calibration)
        report["networks"].append(
            {
                "name": network.name,
                "workload_key": network.workload_key(),
                "layer_sizes": list(network.layer_sizes),
                "layers": rows,
                "default_cores": used,
                "default_chips": chips,
                "quantization": quant,
            }
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return 0
