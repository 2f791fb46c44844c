"""Public entry points of the Lava backend: :func:`run_network`, :class:`LavaSession`,
:func:`run_graphs`."""

from __future__ import annotations

import atexit
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model.network import NetworkIR
from .client import LavaWorker, graph_arrays
from .graph import LavaGraph, describe

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_ROWS = 256  # timesteps per host ring buffer and per Lava run() call (tvm_loihi.lava.engine)
_MAX_KEPT_SESSIONS = 2
# Every Lava process is a forked OS process on the simulator, synchronised every timestep (about
# 0.15-0.3 ms each, lava-0.10.md §5); mlp_a under its 1-chip default mapping needs 99.
MAX_PROCESSES = 512


@dataclass(frozen=True, eq=False)
class LavaResult:
    """Result of one batch on Lava.

    Attributes
    ----------
    outputs : list of numpy.ndarray
        Per layer the integer outputs ``(batch, n_k)`` int64 (the same as
        ``NetworkIR.run_integer``).
    counters : dict
        Activity counted inside the Lava processes: ``spikes`` (``L + 1`` populations), ``messages``
        and ``synaptic_ops`` (``L`` layers), ``samples``, ``timesteps`` (see
        :mod:`tvm_loihi.lava.counters`).
    timings : dict
        Wall-clock seconds: ``start_s`` (worker start + emit + compile + runtime start; 0 when
        reused), ``run_s`` (the Lava steps), ``total_s``; plus ``steps`` and Lava's ``compile_s``
        etc.
    """

    outputs: list[np.ndarray]
    counters: dict
    timings: dict = field(default_factory=dict)


def _prepare_input(network: NetworkIR, x_int: np.ndarray) -> np.ndarray:
    x = np.asarray(x_int)
    if x.ndim != 2 or x.shape[1] != network.n_inputs:
        raise ValueError(
            f"network {network.name!r} expects a (batch, {network.n_inputs}) input, got {x.shape}"
        )
    # Same clipping as the reference executor; the quantised input range fits the int32 host buffer.
    return np.clip(x.astype(np.int64), network.input_lo, network.input_hi).astype(np.int32)


def _empty_result(network: NetworkIR) -> LavaResult:
    depth = network.depth
    counters = {
        "samples": 0,
        "timesteps": 0,
        "spikes": [0] * (depth + 1),
        "messages": [0] * depth,
        "synaptic_ops": [0] * depth,
    }
    outputs = [np.zeros((0, n), np.int64) for n in network.layer_sizes[1:]]
    return LavaResult(outputs, counters, {"run_s": 0.0, "steps": 0})


class LavaSession:
    """A Lava worker holding one live runtime for ``network``: batches stream into it without
    re-compiling.

    Parameters
    ----------
    network : NetworkIR
        The network (ignored when ``graph`` is given).
    mapping : tvm_loihi.model.mapping.Mapping or dict, optional
        Placement; every neuron slice becomes its own Lava process.
    synapse : {"auto", "sparse", "dense"}
        Synapse processes (see :func:`tvm_loihi.lava.graph.describe`).
    timeout_s : float
        Budget for start-up, and the default per :meth:`run`.
    rows : int
        Timesteps per Lava ``run()`` call.
    graph : LavaGraph, optional
        A ready graph description (e.g. loaded from an artifact or received over RPC).
    """

    def __init__(
        self,
        network: NetworkIR | None = None,
        mapping=None,
        *,
        synapse: str = "auto",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        rows: int = DEFAULT_ROWS,
        graph: LavaGraph | None = None,
    ):
        t0 = time.perf_counter()
        self.graph = graph if graph is not None else describe(network, mapping, synapse)
        if self.graph.n_processes > MAX_PROCESSES:
            raise ValueError(
                f"network {self.graph.network.name!r}: the mapping splits it into "
                f"{self.graph.n_processes} Lava processes, over the limit of {MAX_PROCESSES} (by "
                f"{self.graph.n_processes - MAX_PROCESSES}); every one is an OS process on the "
                f"simulator. Run without the mapping (the results are identical: placement does "
                f"not change the arithmetic) or raise tvm_loihi.lava.runner.MAX_PROCESSES"
            )
        self.timeout_s = float(timeout_s)
        self._worker = LavaWorker()
        try:
            reply, _ = self._worker.request(
                {"op": "load", "id": 0, "rows": int(rows)},
                graph_arrays(self.graph.to_bytes()),
                self.timeout_s,
            )
        except BaseException:
            self._worker.kill()
            raise
        self.start_timings = {
            **reply["timings"],
            "start_s": time.perf_counter() - t0,
            "n_processes": reply["n_processes"],
        }
        self.host_buffer_dir = reply["directory"]  # the worker's memory-mapped host I/O files
        self._fresh = True

    @property
    def network(self) -> NetworkIR:
        return self.graph.network

    def run(self, x_int: np.ndarray, timeout_s: float | None = None) -> LavaResult:
        """Run a batch ``(batch, n_in)`` of quantised inputs (clipped to ``[input_lo,
        input_hi]``)."""
        x = _prepare_input(self.network, x_int)
        if x.shape[0] == 0:
            return _empty_result(self.network)
        t0 = time.perf_counter()
        reply, arrays = self._worker.request(
            {"op": "run", "id": 0}, {"x": x}, self.timeout_s if timeout_s is None else timeout_s
        )
        outputs = [arrays[f"out{k}"].astype(np.int64) for k in range(self.network.depth)]
        timings = {**reply["timings"], "total_s": time.perf_counter() - t0, "start_s": 0.0}
        if self._fresh:  # the first batch carries the start-up cost
            timings.update({k: v for k, v in self.start_timings.items() if k != "start_s"})
            timings["start_s"] = self.start_timings["start_s"]
            timings["total_s"] += self.start_timings["start_s"]
            self._fresh = False
        return LavaResult(outputs, reply["counters"], timings)

    def close(self) -> None:
        """Stop the Lava runtime and the worker's whole process group."""
        self._worker.close()

    def __enter__(self) -> LavaSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_kept: OrderedDict[str, LavaSession] = OrderedDict()


def close_sessions() -> None:
    """Close every session kept alive by ``run_network(..., keep_alive=True)``."""
    while _kept:
        _kept.popitem()[1].close()


atexit.register(close_sessions)


def run_network(
    network: NetworkIR,
    x_int: np.ndarray,
    mapping=None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    synapse: str = "auto",
    keep_alive: bool = False,
    rows: int = DEFAULT_ROWS,
) -> LavaResult:
    """Run ``network`` on Lava's Loihi 2 simulator (``Loihi2SimCfg``, fixed point) in a worker
    process.

    Bit-exact with :meth:`tvm_loihi.model.network.NetworkIR.run_integer`: samples are fed back to
    back, one per timestep, and each layer's output is collected ``k + 1`` steps later.

    Parameters
    ----------
    network : NetworkIR
        The quantised network.
    x_int : numpy.ndarray
        ``(batch, n_inputs)`` integer inputs (clipped to ``[input_lo, input_hi]`` like the
        reference).
    mapping : tvm_loihi.model.mapping.Mapping or dict, optional
        Placement: one neuron and one synapse Lava process per neuron slice, each recording its
        core.
    timeout_s : float
        Wall-clock budget for the whole call; on expiry the worker's process group is killed and
        :class:`~tvm_loihi.lava.client.LavaTimeoutError` raised.
    synapse : {"auto", "sparse", "dense"}
        Lava ``Sparse`` or ``Dense`` synapse processes (auto: by density).
    keep_alive : bool
        Keep the worker and its runtime for later calls with the same graph (up to two are kept;
        closed by :func:`close_sessions` or at exit). Default: one worker per call, nothing left
        running.
    rows : int
        Timesteps per Lava ``run()`` call.

    Returns
    -------
    LavaResult

    Raises
    ------
    tvm_loihi.lava.client.LavaError
        Lava failed; the message includes the tracebacks of Lava's actor processes.
    """
    deadline = time.monotonic() + timeout_s
    if not keep_alive:
        with LavaSession(
            network, mapping, synapse=synapse, timeout_s=timeout_s, rows=rows
        ) as session:
            return session.run(x_int, timeout_s=max(0.0, deadline - time.monotonic()))
    return _run_kept(describe(network, mapping, synapse), x_int, deadline, rows)


def _run_kept(graph: LavaGraph, x_int: np.ndarray, deadline: float, rows: int) -> LavaResult:
    key = f"{graph.key()}:{rows}"
    session = _kept.pop(key, None)
    if session is None:
        session = LavaSession(graph=graph, timeout_s=deadline - time.monotonic(), rows=rows)
    try:
        result = session.run(x_int, timeout_s=max(0.0, deadline - time.monotonic()))
    except BaseException:
        session.close()
        raise
    _kept[key] = session
    while len(_kept) > _MAX_KEPT_SESSIONS:  # least recently used first
        _kept.popitem(last=False)[1].close()
    return result


def run_graphs(
    items: Sequence[tuple[LavaGraph, np.ndarray]],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    rows: int = DEFAULT_ROWS,
) -> list[LavaResult]:
    """Run several graphs, one batch each, one after another in a single worker (amortises its
    start-up).

    Each graph gets its own Lava runtime, started, run and stopped in turn. ``timeout_s`` bounds the
    whole call.
    """
    deadline = time.monotonic() + timeout_s
    worker = LavaWorker()
    results = []
    try:
        for i, (graph, x_int) in enumerate(items):
            x = _prepare_input(graph.network, x_int)
            t0 = time.perf_counter()
            load, _ = worker.request(
                {"op": "load", "id": i, "rows": int(rows)},
                graph_arrays(graph.to_bytes()),
                deadline - time.monotonic(),
            )
            reply, arrays = worker.request(
                {"op": "run", "id": i}, {"x": x}, deadline - time.monotonic()
            )
            worker.request({"op": "unload", "id": i}, None, deadline - time.monotonic())
            outputs = [arrays[f"out{k}"].astype(np.int64) for k in range(graph.network.depth)]
            results.append(
                LavaResult(
                    outputs,
                    reply["counters"],
                    {**load["timings"], **reply["timings"], "total_s": time.perf_counter() - t0},
                )
            )
    finally:
        worker.close()
    return results
