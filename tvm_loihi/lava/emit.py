"""Graph description -> Lava processes (runs inside the Lava worker process only; imports Lava).

Per layer ``k`` and neuron slice ``j``: one :class:`~tvm_loihi.lava_procs.process.QNeuron`, fed by
one ``Sparse``/``Dense`` synapse process holding the slice's rows, with Lava's exact int8 recipe
(../shared/notes/lava-0.10.md §3.1, §4): ``weights = 2*W`` (int32, so that ``2 * -128`` does not
wrap int8), ``weight_exp = -(shift + 1)`` (see :mod:`tvm_loihi.lava.graph`),
``num_weight_bits = 8``, ``sign_mode = SignMode.MIXED`` (never auto-detected: an all-negative matrix
holding -128 would be clipped as INHIBITORY) and ``num_message_bits = 24`` (graded spikes; 0 would
binarise them). One ``HostSource`` feeds the batch.

Applying the placement on a real Loihi 2 host
---------------------------------------------
Every process is named ``<network>.L<k>.n<j>`` (neurons) / ``<network>.L<k>.s<j>`` (synapses) and
:func:`placement` returns ``{process name: global core id}`` from the graph. The public lava-nc 0.10
has no way to act on it (partitioning and core allocation live in the closed ``lava-loihi``). On an
INRC host with ``lava-loihi`` the two entry points are (neither can run here, so neither is
attempted):

1. ``proc.run(..., run_cfg=Loihi2HwCfg(), compile_config={"partitioning": {...}})`` -- the official
   manual-mapping dictionary passed through to the NC compiler (schema only known to lava-loihi;
   presumably keyed by process name, as :func:`placement` is);
2. a subclass of ``lava.magma.compiler.compiler.Compiler`` that, after the NC subcompiler ran,
   rewrites each ``NcProcessBuilder``'s logical core ids from :func:`placement` (replacing
   ``Mapper``'s sequential numbering), then ``proc.create_runtime(executable=...)``.

Graph-level tiling (one process per slice) already works everywhere: the closed partitioner gives
every process at least one core, so the slices bound what shares a core.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from lava.utils.weightutils import SignMode

from ..lava_procs.process import CountingDense, CountingSparse, HostSource, QNeuron
from .graph import LavaGraph, check_accumulators

MESSAGE_BITS = 24  # graded-spike payload (num_message_bits=0 would binarise the input)
WEIGHT_BITS = 8


@dataclass(frozen=True)
class HostBuffers:
    """Memory-mapped host I/O of one emitted graph: ``rows`` timesteps per ring buffer.

    Attributes hold ``np.memmap`` arrays: ``inputs (rows, n_in) int32``, ``source_log (rows,)``,
    ``neuron_out[k][j] (rows, n_slice) int32``, ``neuron_log[k][j] (rows,)``,
    ``synapse_log[k][j] (rows, 2)`` (messages, synaptic ops); logs are int64.
    """

    directory: str
    rows: int
    inputs: np.memmap
    source_log: np.memmap
    neuron_out: tuple
    neuron_log: tuple
    synapse_log: tuple

    @classmethod
    def create(cls, graph: LavaGraph, directory: str, rows: int) -> HostBuffers:
        """Create zeroed buffer files under ``directory`` for ``graph``."""

        def buf(name, shape, dtype):
            path = os.path.join(directory, name)
            return np.memmap(path, dtype=dtype, mode="w+", shape=shape)

        net = graph.network
        return cls(
            directory,
            rows,
            buf("inputs", (rows, net.n_inputs), np.int32),
            buf("source.log", (rows,), np.int64),
            tuple(
                tuple(
                    buf(f"L{k}.n{j}.out", (rows, b[j + 1] - b[j]), np.int32)
                    for j in range(len(b) - 1)
                )
                for k, b in enumerate(graph.bounds)
            ),
            tuple(
                tuple(buf(f"L{k}.n{j}.log", (rows,), np.int64) for j in range(len(b) - 1))
                for k, b in enumerate(graph.bounds)
            ),
            tuple(
                tuple(buf(f"L{k}.s{j}.log", (rows, 2), np.int64) for j in range(len(b) - 1))
                for k, b in enumerate(graph.bounds)
            ),
        )


@dataclass(frozen=True)
class EmittedGraph:
    """The Lava processes of a graph: ``source``, ``neurons[k][j]``, ``synapses[k][j]``."""

    source: HostSource
    neurons: tuple
    synapses: tuple

    def all_processes(self) -> list:
        return [
            self.source,
            *(p for ps in self.neurons for p in ps),
            *(p for ps in self.synapses for p in ps),
        ]


def process_name(graph: LavaGraph, k: int, kind: str, j: int) -> str:
    """Unique, stable name of slice ``j``'s neuron or synapse process in layer ``k`` (the key a
    manual partitioning would use)."""
    return f"{graph.network.name}.L{k}.{'n' if kind == 'neuron' else 's'}{j}"


def placement(graph: LavaGraph) -> dict[str, int]:
    """``{process name: global core id}`` of every neuron and synapse process (empty when unplaced).

    A slice's synapse process sits on the slice's core: Loihi stores synapses at the receiving core.
    """
    if graph.mapping is None:
        return {}
    return {
        process_name(graph, k, kind, j): core
        for k, cores in enumerate(graph.cores)
        for j, core in enumerate(cores)
        for kind in ("neuron", "synapse")
    }


def _synapse(graph: LavaGraph, k: int, j: int, log_path: str, rows: int):
    w = graph.slice_weights(k, j).astype(np.int32)
    w.data *= 2  # Lava keeps 8 magnitude bits + sign in steps of 2 for MIXED weights: 2W is exact
    kw = dict(
        weight_exp=graph.weight_exp(k),
        num_weight_bits=WEIGHT_BITS,
        sign_mode=SignMode.MIXED,
        num_message_bits=MESSAGE_BITS,
        log_path=log_path,
        rows=rows,
        name=process_name(graph, k, "synapse", j),
    )
    if graph.kinds[k][j] == "sparse":
        return CountingSparse(weights=w, **kw)
    return CountingDense(weights=w.toarray(), **kw)


def build(graph: LavaGraph, buffers: HostBuffers) -> EmittedGraph:
    """Create and connect the Lava processes of ``graph`` writing to ``buffers``.

    Raises
    ------
    AccumulatorOverflowError
        If a layer could wrap Lava's int32 accumulator (checked again here: descriptions arrive over
        RPC).
    """
    check_accumulators(graph.network)
    d, rows = buffers.directory, buffers.rows
    source = HostSource(
        n=graph.network.n_inputs,
        in_path=os.path.join(d, "inputs"),
        log_path=os.path.join(d, "source.log"),
        rows=rows,
        name=f"{graph.network.name}.in",
    )
    prev_outs = [source.s_out]
    neurons, synapses = [], []
    for k, layer in enumerate(graph.network.layers):
        b = graph.bounds[k]
        # A slice sends a vector as wide as its population (zero outside its neurons) when the next
        # layer consumes it: the next synapses' InPort sums the slices, i.e. concatenates them.
        width = graph.source_width(k + 1) if k + 1 < graph.network.depth else None
        layer_neurons = [
            QNeuron(
                bias=layer.bias[b[j] : b[j + 1]],
                relu=layer.relu,
                lo=layer.lo,
                hi=layer.hi,
                out_width=width or b[j + 1] - b[j],
                out_offset=b[j] if width else 0,
                out_path=os.path.join(d, f"L{k}.n{j}.out"),
                log_path=os.path.join(d, f"L{k}.n{j}.log"),
                rows=rows,
                name=process_name(graph, k, "neuron", j),
            )
            for j in range(len(b) - 1)
        ]
        layer_synapses = []
        for j, neuron in enumerate(layer_neurons):
            syn = _synapse(graph, k, j, os.path.join(d, f"L{k}.s{j}.log"), rows)
            for out in prev_outs:
                out.connect(syn.s_in)
            syn.a_out.connect(neuron.a_in)
            layer_synapses.append(syn)
        neurons.append(tuple(layer_neurons))
        synapses.append(tuple(layer_synapses))
        prev_outs = [n.s_out for n in layer_neurons]
    return EmittedGraph(source, tuple(neurons), tuple(synapses))
