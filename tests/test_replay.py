"""Replay at build time: ``with tvm_loihi.apply_best(log): tvm.compile(mod, target="loihi2")``
embeds the best logged mapping of each offloaded network; without a matching record it warns and
keeps Lava's default."""

from __future__ import annotations

import numpy as np
import pytest
import tvm

import tvm_loihi
from tvm_loihi.compiler.frontend import load_onnx
from tvm_loihi.compiler.replay import ReplayWarning, extract_networks
from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.runner import LocalRunner
from tvm_loihi.model import workloads
from tvm_loihi.model.mapping import Mapping
from tvm_loihi.tuning import tune


def _module(seed: int = 0) -> tvm.IRModule:
    return load_onnx(workloads.make_onnx("mlp_tiny", seed=seed, batch=1))


def test_keys_match_between_tuning_and_build():
    # quantisation is deterministic: the same ONNX gives the same workload key, twice over
    ((net_a, hw_a),) = extract_networks(_module())
    ((net_b, hw_b),) = extract_networks(_module())
    assert net_a.workload_key() == net_b.workload_key() and hw_a.key() == hw_b.key()
    ((other, _),) = extract_networks(_module(seed=1))
    assert other.workload_key() != net_a.workload_key()


def test_apply_best_embeds_best_record_and_falls_back_with_warning(tmp_path):
    log_path = tmp_path / "tune.jsonl"
    ((net, hw),) = extract_networks(_module())
    result = tune(
        net, hw, runner=LocalRunner(), strategy="random", budget=12, seed=0, log=str(log_path)
    )
    log = TuningLog(log_path)
    best = log.best(net.workload_key(), hw.key())
    assert best is not None and best.result.latency_s == result.best_result.latency_s
    assert best.input.mapping == result.best_mapping.to_json()
    assert any(r.result.latency_s > best.result.latency_s for r in log.records())  # a real choice

    with tvm_loihi.apply_best(log_path) as report:
        ex = tvm.compile(_module(), target="loihi2")
    (embedded,) = tvm_loihi.read_mappings(ex)
    assert embedded["workload_key"] == net.workload_key()
    assert embedded["mapping"] == best.input.mapping
    cores = Mapping.from_json(embedded["mapping"]).cores_per_layer
    assert cores == result.best_mapping.cores_per_layer
    assert [a[1] for a in report.applied] == [net.workload_key()] and not report.fallbacks
    x = workloads.sample_inputs("mlp_tiny", 1).astype(np.float32)
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x)).numpy()
    np.testing.assert_array_equal(out, net.run_float(x)[0])  # the replayed build computes the net

    with pytest.warns(ReplayWarning, match="falling back to the Lava default"):
        with tvm_loihi.apply_best(log_path) as report:
            ex_other = tvm.compile(_module(seed=1), target="loihi2")
    assert tvm_loihi.read_mappings(ex_other)[0]["mapping"] is None and len(report.fallbacks) == 1
    # the provider is restored on exit: a plain build embeds no mapping
    assert tvm_loihi.read_mappings(tvm.compile(_module(), target="loihi2"))[0]["mapping"] is None
