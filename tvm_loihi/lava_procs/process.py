"""Lava processes for quantised MLP layers: what each process is (ports, Vars, parameters).

Why custom processes (lava-nc 0.10, read from its sources, see ../shared/notes/lava-0.10.md §3):

* ``QNeuron``: no stock neuron gives ``y = clip(act(a + b), lo, hi)`` statelessly.
  ``GradedReluVec`` / ``GradedVec`` have no bias and no saturation; ``SigmaDelta`` has a bias but is
  delta-coded and stateful, and drifts (floor of a sum != sum of floors) as soon as a layer
  right-shifts its accumulator.
* ``CountingSparse`` / ``CountingDense``: *are* the stock ``Sparse`` / ``Dense`` processes (same
  constructor, same Vars, same bit-accurate arithmetic, which their models inherit unchanged) plus
  per-timestep activity counters, the software stand-in for the Loihi 2 activity probe that lives in
  the closed lava-loihi.
* ``HostSource``: feeds one sample per timestep from a host buffer. Lava's ``RingBuffer`` would do,
  but its data can only be changed with ``Var.set``, which Lava 0.10 transfers one element per
  channel message (``PyLoihiProcessModel._set_var``), i.e. seconds per chunk for a 784-wide batch.

Host I/O: every process that exchanges bulk data with the host (inputs, per-layer outputs, counters)
does so through a small memory-mapped ``int32``/``int64`` file of ``rows`` timesteps (a ring indexed
by ``(time_step - 1) % rows``), written by the process during ``run_spk`` and read by the host
between ``run`` calls, when Lava guarantees that every process has finished the requested steps.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.proc.dense.process import Dense
from lava.proc.sparse.process import Sparse


class HostSource(AbstractProcess):
    """Sends row ``(t - 1) % rows`` of the host buffer ``in_path`` (``int32 (rows, n)``) at timestep
    ``t`` and logs the number of non-zero entries sent (input spikes) to ``log_path`` (``int64
    (rows,)``)."""

    def __init__(self, *, n: int, in_path: str, log_path: str, rows: int, name: str | None = None):
        super().__init__(n=n, in_path=in_path, log_path=log_path, rows=rows, name=name)
        self.s_out = OutPort(shape=(n,))


class QNeuron(AbstractProcess):
    """Stateless graded neuron: ``clip(act(a_in + bias), lo, hi)`` (the synapse already shifted).

    ``s_out`` is ``out_width`` wide with this slice's ``n`` values at ``out_offset`` and zeros
    elsewhere, so that the slices of one population, summed at the next synapse's ``InPort``, form
    the whole population's vector (Lava 0.10 cannot concatenate ports). Each step it logs its ``n``
    outputs to ``out_path`` (``int32 (rows, n)``) and the number of non-zero outputs (graded spikes)
    to ``log_path`` (``int64 (rows,)``).
    """

    def __init__(
        self,
        *,
        bias: np.ndarray,
        relu: bool,
        lo: int,
        hi: int,
        out_width: int,
        out_offset: int,
        out_path: str,
        log_path: str,
        rows: int,
        name: str | None = None,
    ):
        bias = np.asarray(bias, dtype=np.int32).reshape(-1)
        n = int(bias.shape[0])
        if not 0 <= out_offset <= out_width - n:
            raise ValueError(
                f"neuron slice {name!r}: {n} neurons at offset {out_offset} do not "
                f"fit an output of width {out_width}"
            )
        super().__init__(
            n=n,
            relu=bool(relu),
            lo=int(lo),
            hi=int(hi),
            out_width=int(out_width),
            out_offset=int(out_offset),
            out_path=out_path,
            log_path=log_path,
            rows=rows,
            name=name,
        )
        self.a_in = InPort(shape=(n,))
        self.s_out = OutPort(shape=(int(out_width),))
        self.bias = Var(shape=(n,), init=bias)


class CountingSparse(Sparse):
    """Lava's ``Sparse`` plus a per-timestep log ``log_path`` (``int64 (rows, 2)``): messages
    received (spiking inputs with at least one synapse in this process) and synaptic operations."""

    def __init__(self, *, log_path: str, rows: int, **kwargs):
        super().__init__(log_path=log_path, rows=rows, **kwargs)


class CountingDense(Dense):
    """Lava's ``Dense`` plus the same per-timestep log as :class:`CountingSparse`."""

    def __init__(self, *, log_path: str, rows: int, **kwargs):
        super().__init__(log_path=log_path, rows=rows, **kwargs)
