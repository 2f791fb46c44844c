"""Small Relax models for the TVM-path tests (built with BlockBuilder, weights as constants)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import tvm
from tvm import relax

from tvm_loihi.model import workloads
from tvm_loihi.model.network import NetworkIR


def rand_layer(rng: np.random.Generator, n_in: int, n_out: int, density: float = 0.3):
    scale = np.float32(1.0 / np.sqrt(n_in * density))
    w = rng.standard_normal((n_in, n_out)).astype(np.float32) * scale
    w[rng.random(w.shape) > density] = 0.0
    b = (rng.standard_normal(n_out) * 0.05).astype(np.float32)
    return w, b


def dense(bb: relax.BlockBuilder, x, w, b=None, relu=True, weight_var=None):
    """Emit ``relu?(add?(matmul(x, W), b))``; ``weight_var`` makes W a runtime parameter."""
    out = bb.emit(relax.op.matmul(x, weight_var if weight_var is not None else relax.const(w)))
    if b is not None:
        out = bb.emit(relax.op.add(out, relax.const(b)))
    return bb.emit(relax.op.nn.relu(out)) if relu else out


def build(body, inputs: dict[str, tuple], dtype: str = "float32") -> tvm.IRModule:
    """``main(**inputs)`` whose dataflow body is ``body(bb, *vars)`` returning the output expr."""
    bb = relax.BlockBuilder()
    params = [relax.Var(n, relax.TensorType(s, dtype)) for n, s in inputs.items()]
    with bb.function("main", params=params):
        with bb.dataflow():
            out = bb.emit_output(body(bb, *params))
        bb.emit_func_output(out)
    return bb.get()


def chain_model(widths=(16, 24, 24, 8), batch=2, seed=0):
    """A plain MLP: ReLU on hidden layers, bias everywhere."""
    rng = np.random.default_rng(seed)
    layers = [rand_layer(rng, a, b) for a, b in pairwise(widths)]

    def body(bb, x):
        h = x
        for k, (w, b) in enumerate(layers):
            h = dense(bb, h, w, b, relu=k < len(layers) - 1)
        return h

    return build(body, {"x": (batch, widths[0])}), layers


def split_model(batch=2, seed=0, host_op=relax.op.tanh):
    """dense -> dense -> host op -> dense -> dense: the host op splits the chain in two."""
    rng = np.random.default_rng(seed)
    ls = [rand_layer(rng, a, b) for a, b in ((16, 24), (24, 24), (24, 24), (24, 8))]

    def body(bb, x):
        h = dense(bb, x, *ls[0])
        h = dense(bb, h, *ls[1], relu=False)
        h = bb.emit(host_op(h))
        h = dense(bb, h, *ls[2])
        return dense(bb, h, *ls[3], relu=False)

    return build(body, {"x": (batch, 16)}), ls


def tap_model(batch=2, seed=0):
    """The first hidden activation is also reduced on the host: the chain must return a tuple."""
    rng = np.random.default_rng(seed)
    ls = [rand_layer(rng, 16, 24), rand_layer(rng, 24, 8)]

    def body(bb, x):
        h = dense(bb, x, *ls[0])
        y = dense(bb, h, *ls[1], relu=False)
        s = bb.emit(relax.op.sum(h, axis=[1], keepdims=True))
        return bb.emit(relax.op.add(y, s))

    return build(body, {"x": (batch, 16)}), ls


def dynamic_weight_model(batch=2, seed=0):
    """The middle layer's weight is a runtime input (host); the others are constants."""
    rng = np.random.default_rng(seed)
    ls = [rand_layer(rng, 16, 24), rand_layer(rng, 24, 24), rand_layer(rng, 24, 8)]

    def body(bb, x, w2):
        h = dense(bb, x, *ls[0])
        h = dense(bb, h, None, None, relu=True, weight_var=w2)
        return dense(bb, h, *ls[2], relu=False)

    return build(body, {"x": (batch, 16), "w2": (24, 24)}), ls


def rank3_model(seed=0):
    """A (batch, tokens, features) activation: not a flat neuron population."""
    rng = np.random.default_rng(seed)
    w, b = rand_layer(rng, 16, 24)
    return build(lambda bb, x: dense(bb, x, w, b), {"x": (2, 5, 16)})


def float16_model(seed=0):
    rng = np.random.default_rng(seed)
    w, b = rand_layer(rng, 16, 24)

    def body(bb, x):
        return dense(bb, x, w.astype(np.float16), b.astype(np.float16))

    return build(body, {"x": (2, 16)}, dtype="float16")


def onnx_module(name="mlp_tiny", batch=1, spelling="mixed"):
    from tvm_loihi.compiler.frontend import load_onnx

    return load_onnx(workloads.make_onnx(name, batch=batch, spelling=spelling))


def count_calls(mod_or_text, name="tvm_loihi.run_subgraph") -> int:
    text = mod_or_text if isinstance(mod_or_text, str) else mod_or_text.script()
    return text.count(f'R.call_dps_packed("{name}"')


def vm_run(ex, *arrays) -> list[np.ndarray]:
    vm = relax.VirtualMachine(ex, tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(np.ascontiguousarray(a)) for a in arrays])
    if hasattr(out, "numpy"):
        return [out.numpy()]
    return [o.numpy() for o in out]


def run_batched(ex, x: np.ndarray, batch: int) -> np.ndarray:
    vm = relax.VirtualMachine(ex, tvm.cpu())
    return np.concatenate(
        [
            vm["main"](tvm.runtime.tensor(np.ascontiguousarray(x[i : i + batch]))).numpy()
            for i in range(0, len(x) - batch + 1, batch)
        ]
    )


def integer_reference(network: NetworkIR, x: np.ndarray) -> np.ndarray:
    """What the runtime must return, computed directly from the bit-exact integer executor."""
    outs = network.run_integer(network.quantize_input(x))
    last = outs[network.tap_layers[-1]].astype(np.float64)
    return (last * network.tap_scales[-1]).astype(np.float32)
