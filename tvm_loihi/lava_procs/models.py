"""Fixed-point ProcessModels (tag ``fixed_pt``, CPU) of the processes in :mod:`.process`.

Every model is stateless across timesteps except for the host logs, so samples can be fed back to
back, one per timestep, without resets. Host buffers are opened lazily on the first step, inside the
actor process.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import AbstractPyDenseModelBitAcc
from lava.proc.sparse.models import AbstractPySparseModelBitAcc

# Absolute import: Lava exec's this file as a top-level module named "models" when searching models.
from tvm_loihi.lava_procs.process import CountingDense, CountingSparse, HostSource, QNeuron


def _host_buffer(path: str, rows: int, cols: int | None, dtype) -> np.memmap:
    shape = (rows,) if cols is None else (rows, cols)
    return np.memmap(path, dtype=dtype, mode="r+", shape=shape)


@implements(proc=HostSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyHostSourceModel(PyLoihiProcessModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.inputs = self.spike_log = None

    def run_spk(self):
        p = self.proc_params
        if self.inputs is None:
            self.inputs = _host_buffer(p["in_path"], p["rows"], p["n"], np.int32)
            self.spike_log = _host_buffer(p["log_path"], p["rows"], None, np.int64)
        row = (self.time_step - 1) % p["rows"]
        x = np.array(self.inputs[row])
        self.s_out.send(x)
        self.spike_log[row] = np.count_nonzero(x)


@implements(proc=QNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyQNeuronModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.out_log = self.spike_log = None
        self.frame = np.zeros(proc_params["out_width"], dtype=np.int32)  # zero outside this slice

    def run_spk(self):
        p = self.proc_params
        if self.out_log is None:
            self.out_log = _host_buffer(p["out_path"], p["rows"], p["n"], np.int32)
            self.spike_log = _host_buffer(p["log_path"], p["rows"], None, np.int64)
        # int64: the bias add cannot wrap before the saturation.
        v = self.a_in.recv().astype(np.int64) + self.bias
        if p["relu"]:
            np.maximum(v, 0, out=v)
        out = np.clip(v, p["lo"], p["hi"]).astype(np.int32)
        self.frame[p["out_offset"] : p["out_offset"] + p["n"]] = out
        self.s_out.send(self.frame)
        row = (self.time_step - 1) % p["rows"]
        self.out_log[row] = out
        self.spike_log[row] = np.count_nonzero(out)


class _RecvTap:
    """Stands in for an InPort during one stock ``run_spk`` and keeps what it received."""

    __slots__ = ("port", "value")

    def __init__(self, port):
        self.port, self.value = port, None

    def recv(self):
        self.value = self.port.recv()
        return self.value


class _ActivityCounter:
    """Mix-in: runs the stock bit-accurate ``run_spk`` unchanged, then logs this step's activity."""

    def _count_init(self):
        self.activity_log = self.fan_out = None

    def run_spk(self):
        port, tap = self.s_in, _RecvTap(self.s_in)
        self.s_in = tap
        try:
            # Lava's own arithmetic: clip/truncate weights, W.dot(s), weight_exp shift.
            super().run_spk()
        finally:
            self.s_in = port
        p = self.proc_params
        if self.activity_log is None:
            self.activity_log = _host_buffer(p["log_path"], p["rows"], 2, np.int64)
            self.fan_out = self._fan_out().astype(np.int64)
        spiking = np.asarray(tap.value) != 0
        ops = self.fan_out[spiking]
        # One message per spiking source neuron with a synapse here; one op per such synapse.
        self.activity_log[(self.time_step - 1) % p["rows"]] = (np.count_nonzero(ops), ops.sum())


@implements(proc=CountingSparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyCountingSparseModel(_ActivityCounter, AbstractPySparseModelBitAcc):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._count_init()

    def _fan_out(self):
        w = self.weights
        return np.bincount(w.indices[w.data != 0], minlength=w.shape[1])


@implements(proc=CountingDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyCountingDenseModel(_ActivityCounter, AbstractPyDenseModelBitAcc):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._count_init()

    def _fan_out(self):
        return np.count_nonzero(self.weights, axis=0)
