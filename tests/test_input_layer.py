"""The on-chip input population (``LoihiConfig(input_layer="chip")``): an exact relay layer in the
quantised network, bit-exact on Lava, equal outputs through tvm.compile, one host message per
active input in the simulator, and tune -> compile replay through the CLI with the same choice."""

from __future__ import annotations

import json

import numpy as np
import psutil
import pytest
import tvm
from tvm_models import onnx_module, run_batched

import tvm_loihi
from tvm_loihi.cli import main
from tvm_loihi.compiler.runtime import network_from_payload
from tvm_loihi.lava import close_sessions, describe, reference_counters, run_network
from tvm_loihi.model import workloads
from tvm_loihi.model.activity import activity_profile
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.model.quantize import INPUT_LAYER_NAME, quantize_network
from tvm_loihi.sim import evaluate


def _pair(name: str = "mlp_tiny"):
    cal = workloads.sample_inputs(name, 32)
    fls = workloads.float_layers(name)
    return (
        quantize_network(fls, cal, name=name),
        quantize_network(fls, cal, name=name, input_layer=True),
    )


def test_relay_is_exact_and_keeps_every_other_layer():
    host, chip = _pair()
    relay = chip.layers[0]
    assert relay.name == INPUT_LAYER_NAME and chip.depth == host.depth + 1
    assert relay.n_in == relay.n_out == host.n_inputs and relay.nnz == host.n_inputs
    assert (relay.lo, relay.hi, relay.shift, relay.relu) == (host.input_lo, host.input_hi, 0, False)
    assert chip.tap_layers == tuple(t + 1 for t in host.tap_layers)
    assert chip.tap_scales == host.tap_scales and chip.input_scale == host.input_scale
    rng = np.random.default_rng(0)
    x = rng.integers(host.input_lo - 9, host.input_hi + 9, (40, host.n_inputs))
    got, want = chip.run_integer(x), host.run_integer(x)
    np.testing.assert_array_equal(got[0], np.clip(x, host.input_lo, host.input_hi))
    for g, w in zip(got[1:], want):
        np.testing.assert_array_equal(g, w)
    xf = workloads.sample_inputs("mlp_tiny", 8, seed=3)
    for g, w in zip(chip.run_float(xf), host.run_float(xf)):
        np.testing.assert_array_equal(g, w)
    assert chip.workload_key() != host.workload_key()


def test_lava_runs_the_input_population_bit_exactly_when_split_over_cores():
    _, chip = _pair()
    x = chip.quantize_input(workloads.sample_inputs("mlp_tiny", 12, seed=4))
    mapping = Mapping.from_assignment(chip, (2, 2, 1, 1), [3, 0, 5, 1, 2, 4])
    try:
        result = run_network(chip, x, mapping=mapping, timeout_s=300)
        for k, (g, w) in enumerate(zip(result.outputs, chip.run_integer(x))):
            np.testing.assert_array_equal(g, w, err_msg=f"layer {k}")
        assert result.counters == reference_counters(describe(chip, mapping), x)
        assert result.counters["timesteps"] == len(x) + chip.depth
    finally:
        close_sessions()
    assert psutil.Process().children(recursive=True) == []


def test_tvm_compile_with_the_input_population_gives_identical_outputs():
    mod = onnx_module("mlp_tiny", batch=2)
    x = workloads.sample_inputs("mlp_tiny", 6, seed=9)
    host_ex = tvm.compile(mod, target="loihi2")
    with tvm_loihi.LoihiConfig(input_layer="chip"):
        chip_ex = tvm.compile(mod, target="loihi2")
    np.testing.assert_array_equal(run_batched(chip_ex, x, 2), run_batched(host_ex, x, 2))
    host_net, chip_net = (
        network_from_payload(json.dumps(p, sort_keys=True))[0]
        for ex in (host_ex, chip_ex)
        for p in tvm_loihi.read_payloads(ex)
    )
    assert chip_net.layers[0].name == INPUT_LAYER_NAME
    assert chip_net.layer_sizes == (host_net.n_inputs, *host_net.layer_sizes)


def test_simulator_sends_one_host_message_per_active_input():
    host, chip = _pair("mlp_a")
    hw = get_preset("loihi2_1chip")
    x = chip.quantize_input(workloads.sample_inputs("mlp_a", 16, seed=2))
    active = int(np.count_nonzero(x))
    results = {}
    for label, net in (("host", host), ("chip", chip)):
        act = activity_profile(net, x)
        results[label] = evaluate(net, lava_default_mapping(net, hw), hw, act)
    assert results["chip"].counters["host_messages"] == active
    # Direct injection: one message per (active input, layer-1 core with a synapse for it).
    assert results["host"].counters["host_messages"] > 2 * active
    assert results["chip"].counters["timesteps"] == len(x) + chip.depth - 1
    assert results["host"].counters["timesteps"] == len(x) + host.depth - 1


def test_config_rejects_an_unknown_choice():
    with pytest.raises(ValueError, match=r"input_layer must be one of \('host', 'chip'\)"):
        tvm_loihi.LoihiConfig(input_layer="fpga")


def test_cli_tunes_and_replays_with_the_input_population(tmp_path, capsys):
    model = workloads.write_onnx("mlp_tiny", str(tmp_path / "tiny.onnx"))
    log, summary = str(tmp_path / "t.jsonl"), tmp_path / "s.json"
    argv = [
        "tune",
        model,
        "--input-layer",
        "chip",
        "--strategy",
        "bilevel",
        "--budget",
        "8",
        "--log",
        log,
        "--outdir",
        str(tmp_path / "out"),
        "--json",
        str(summary),
    ]
    assert main(argv) == 0
    (net,) = json.loads(summary.read_text())["networks"]
    assert net["layer_sizes"][0] == net["layer_sizes"][1]  # the relay: n_in -> n_in
    assert "--input-layer chip" in capsys.readouterr().out  # the printed replay command
    lib = str(tmp_path / "m.so")
    assert main(["compile", model, "--input-layer", "chip", "--log", log, "-o", lib]) == 0
    assert "tuned mapping from" in capsys.readouterr().out
    (embedded,) = tvm_loihi.read_mappings(lib)
    assert embedded["workload_key"] == net["workload_key"] and embedded["mapping"] is not None
    # Compiling without the flag is another network: no record, a warning naming the flag.
    assert main(["compile", model, "--log", log, "-o", str(tmp_path / "h.so")]) == 0
    assert "--input-layer" in capsys.readouterr().err
