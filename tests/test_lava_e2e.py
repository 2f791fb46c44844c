"""A tvm.compile'd ONNX model run end to end through the Lava backend, selected without
rebuilding."""

from __future__ import annotations

import numpy as np
import psutil
import tvm
from tvm_models import integer_reference, onnx_module, run_batched

from tvm_loihi.compiler.runtime import network_from_payload
from tvm_loihi.model import workloads


def test_onnx_mlp_runs_bit_exactly_on_lava_through_the_compiled_artifact(monkeypatch):
    import json

    import tvm_loihi.lava

    calls = []
    real = tvm_loihi.lava.run_network

    def counted(*args, **kwargs):  # the real Lava run, counted: proves the backend switch works
        result = real(*args, **kwargs)
        calls.append(result.counters["samples"])
        return result

    monkeypatch.setattr(tvm_loihi.lava, "run_network", counted)

    ex = tvm.compile(onnx_module("mlp_tiny", batch=4), target="loihi2")
    x = workloads.sample_inputs("mlp_tiny", 8, seed=5)
    with tvm_loihi.use_backend("reference"):
        reference = run_batched(ex, x, 4)
    with tvm_loihi.use_backend("lava"):
        on_lava = run_batched(ex, x, 4)
    assert calls == [4, 4]
    np.testing.assert_array_equal(on_lava, reference)
    (payload,) = tvm_loihi.read_payloads(ex)
    net = network_from_payload(json.dumps(payload, sort_keys=True))[0]
    np.testing.assert_array_equal(on_lava, integer_reference(net, x))
    # the runtime keeps one worker alive across VM calls; closing it leaves nothing behind
    assert psutil.Process().children(recursive=True) != []
    tvm_loihi.lava.close_sessions()
    assert psutil.Process().children(recursive=True) == []
