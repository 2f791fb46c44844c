"""``inspect``/``compile`` on a model with ops TVM's importer lacks (#15.2): the fix offered is a
pasteable ``--outputs`` flag naming graph values computed without those ops (never an
initializer, no Python list syntax), unnamed nodes are named by op type and index, and the flag
offered works when pasted."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tvm_loihi.compiler.frontend import UnsupportedOpsError, load_onnx
from tvm_loihi.model import workloads

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def sklearn_like(with_probabilities: bool = True):
    """mlp_tiny's logits ``y`` -> Softmax ``probabilities`` and, like an sklearn export, the label
    tail ArgMax -> ArrayFeatureExtractor(``classes``) whose nodes are unnamed; ``label`` is the
    first graph output. ArrayFeatureExtractor (ai.onnx.ml) is not in TVM's importer."""
    model = workloads.make_onnx("mlp_tiny", batch=2)
    graph = model.graph
    graph.node.extend(
        [
            helper.make_node("Softmax", ["y"], ["probabilities"], axis=1, name="softmax"),
            helper.make_node("ArgMax", ["probabilities"], ["label_idx"], axis=1, keepdims=0),
            helper.make_node(
                "ArrayFeatureExtractor", ["classes", "label_idx"], ["label"], domain="ai.onnx.ml"
            ),
        ]
    )
    graph.initializer.append(numpy_helper.from_array(np.arange(10, dtype=np.int64), "classes"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("label", TensorProto.INT64, [2]))
    if with_probabilities:
        graph.output.append(
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [2, 10])
        )
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    onnx.checker.check_model(model)
    return model


def _suggested_flag(stderr: str) -> list[str]:
    match = re.search(r"--outputs ([\w.\-]+(?: [\w.\-]+)*)", stderr)
    assert match, stderr
    return match.group(1).split()


def test_inspect_offers_the_probabilities_output_as_a_flag_that_works(tmp_path):
    path = str(tmp_path / "sk.onnx")
    onnx.save(sklearn_like(), path)
    res = _cli("inspect", path)
    assert res.returncode != 0
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "ArrayFeatureExtractor node #" in err and "?" not in err
    assert "[" not in err and "(['" not in err  # no Python list syntax to paste
    flag = _suggested_flag(err)
    assert flag == ["probabilities"], err
    assert "classes" not in flag  # an initializer, never a value to cut to
    ok = _cli("inspect", path, "--outputs", *flag)
    assert ok.returncode == 0, ok.stderr
    assert "offloaded to Loihi" in ok.stdout
    so = str(tmp_path / "sk.so")
    built = _cli("compile", path, "--outputs", *flag, "-o", so)
    assert built.returncode == 0, built.stderr
    assert os.path.isfile(so)


def test_without_a_clean_graph_output_the_values_before_the_unsupported_ops_are_offered(tmp_path):
    path = str(tmp_path / "label_only.onnx")
    onnx.save(sklearn_like(with_probabilities=False), path)
    res = _cli("inspect", path)
    assert res.returncode != 0
    flag = _suggested_flag(res.stderr)
    assert flag == ["label_idx"], res.stderr  # ArgMax's output: ArgMax itself is supported
    ok = _cli("inspect", path, "--outputs", *flag)
    assert ok.returncode == 0, ok.stderr


def test_python_api_gets_a_list_and_the_values():
    with pytest.raises(UnsupportedOpsError) as err:
        load_onnx(sklearn_like())
    assert err.value.reachable == ("probabilities",)
    assert "outputs=['probabilities']" in str(err.value)
    assert err.value.ops == ("ArrayFeatureExtractor",)


def test_unsupported_op_on_the_input_says_no_cut_helps(tmp_path):
    model = workloads.make_onnx("mlp_tiny", batch=2)
    graph = model.graph
    graph.node[0].input[0] = "x_celu"
    graph.node.insert(0, helper.make_node("Celu", ["x"], ["x_celu"], alpha=1.0))
    path = str(tmp_path / "celu_first.onnx")
    onnx.save(model, path)
    res = _cli("inspect", path)
    assert res.returncode != 0
    assert "Celu node #0" in res.stderr
    assert "no value of the graph can be computed without them" in res.stderr
    assert "--outputs" not in res.stderr.replace("cut it with --outputs NAME", "")


def test_cutting_to_an_initializer_says_it_is_a_constant(tmp_path):
    path = str(tmp_path / "sk.onnx")
    onnx.save(sklearn_like(), path)
    res = _cli("inspect", path, "--outputs", "classes")
    assert res.returncode != 0
    assert "classes: initializers (constants of the graph)" in res.stderr
    assert "graph outputs: label, probabilities" in res.stderr
