"""A live Lava runtime for one graph: feeds batches one sample per timestep and collects outputs and
counters.

Runs inside the worker process (:mod:`tvm_loihi.lava.worker`), never in the TVM process: importing
Lava forces the ``fork`` start method process-wide and its actors hang the interpreter at exit
unless stopped.

Timestep alignment (../shared/notes/lava-0.10.md §4.5): the source sends sample ``i`` at step ``g +
i + 1`` (``g`` = steps already run by this runtime), every synapse adds one step, neurons add none,
so layer ``k`` (0-based) outputs sample ``i`` at step ``g + i + k + 2`` and a batch of ``N`` samples
through ``L`` layers takes ``N + L`` steps. The first ``L`` steps of each layer's window are
pipeline fill (zeros + bias) and are never read. Between calls the pipeline is drained (the last
``L`` inputs are zeros), and no model keeps state across steps, so a runtime can serve any number of
batches.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable

import numpy as np

from .counters import aggregate_counters
from .emit import HostBuffers, build
from .graph import LavaGraph

DEFAULT_ROWS = 256  # timesteps per host ring buffer = steps per Lava run() call
WATCH_PERIOD_S = 0.1  # how often a running batch checks for dead actors and its deadline


class LavaEngine:
    """Emit, compile and start ``graph`` on ``Loihi2SimCfg(select_tag="fixed_pt")``.

    Parameters
    ----------
    graph : LavaGraph
        The graph description.
    rows : int
        Timesteps per host ring buffer (and per ``run()`` call).
    workdir : str, optional
        Directory for the host buffers (a fresh sub-directory is made in it).
    on_abort : callable, optional
        Called from the watchdog thread with ``(reason, tracebacks, timed_out)`` after a running
        batch was aborted (an actor died, or the deadline passed). Lava itself never returns in that
        case: the remaining actors wait forever for the dead one's messages, so the caller must end
        the process.
    """

    def __init__(
        self,
        graph: LavaGraph,
        rows: int = DEFAULT_ROWS,
        on_abort: Callable[[str, list[str], bool], None] | None = None,
        workdir: str | None = None,
    ):
        from lava.magma.core.run_configs import Loihi2SimCfg

        self.graph, self.rows, self.steps_done = graph, int(rows), 0
        self.on_abort = on_abort
        self.directory = tempfile.mkdtemp(prefix="graph_", dir=workdir)
        self.emitted = None
        try:
            t0 = time.perf_counter()
            self.buffers = HostBuffers.create(graph, self.directory, self.rows)
            self.emitted = build(graph, self.buffers)
            t1 = time.perf_counter()
            executable = self.emitted.source.compile(Loihi2SimCfg(select_tag="fixed_pt"))
            t2 = time.perf_counter()
            self.emitted.source.create_runtime(executable=executable)
            t3 = time.perf_counter()
        except BaseException:
            self.stop()
            raise
        self.timings = {"build_s": t1 - t0, "compile_s": t2 - t1, "create_runtime_s": t3 - t2}

    def run(
        self, x_int: np.ndarray, timeout_s: float | None = None
    ) -> tuple[list[np.ndarray], dict, dict]:
        """Run a batch ``(N, n_in)`` (already clipped to the input range); returns per-layer outputs
        ``(N, n_k)`` int64, the activity counters and timings of this call. A watchdog aborts the
        batch (see ``on_abort``) when an actor dies or ``timeout_s`` passes."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        done = threading.Event()
        watchdog = threading.Thread(
            target=self._watch, args=(done, deadline, timeout_s), daemon=True
        )
        watchdog.start()
        try:
            return self._run(x_int)
        finally:
            done.set()
            watchdog.join()  # an abort never returns here: on_abort ends the process

    def _watch(
        self, done: threading.Event, deadline: float | None, timeout_s: float | None
    ) -> None:
        while not done.wait(WATCH_PERIOD_S):
            errors = self.actor_errors()
            timed_out = deadline is not None and time.monotonic() > deadline
            if errors or timed_out:
                self.abort()
                reason = (
                    f"time-out after {timeout_s:.1f} s"
                    if timed_out and not errors
                    else "a Lava actor process raised"
                )
                if self.on_abort is not None:
                    self.on_abort(reason, errors, timed_out and not errors)
                return

    def _run(self, x_int: np.ndarray) -> tuple[list[np.ndarray], dict, dict]:
        from lava.magma.core.run_conditions import RunSteps

        x = np.asarray(x_int)
        n, depth = x.shape[0], self.graph.network.depth
        total = n + depth if n else 0  # an empty batch runs no step
        feed = np.zeros((total, self.graph.network.n_inputs), dtype=np.int32)
        feed[:n] = x
        logs = _empty_logs(self.buffers, total)
        t0 = time.perf_counter()
        for start in range(0, total, self.rows):
            steps = min(self.rows, total - start)
            ring = (self.steps_done + np.arange(steps)) % self.rows
            self.buffers.inputs[ring] = feed[start : start + steps]
            self.emitted.source.run(condition=RunSteps(num_steps=steps))
            self.steps_done += steps
            _collect(self.buffers, logs, ring, slice(start, start + steps))
        run_s = time.perf_counter() - t0
        outputs = [
            np.concatenate([o[k + 1 : k + 1 + n] for o in logs["neuron_out"][k]], axis=1).astype(
                np.int64
            )
            for k in range(depth)
        ]
        counters = aggregate_counters(logs, n, depth)
        return outputs, counters, {"run_s": run_s, "steps": total}

    def actor_errors(self) -> list[str]:
        """Tracebacks of Lava actor processes that raised (Lava only logs them at INFO)."""
        runtime = None if self.emitted is None else self.emitted.source.runtime
        infra = getattr(runtime, "_messaging_infrastructure", None)
        out = []
        for actor in getattr(infra, "actors", []) or []:
            try:
                exc = actor.exception
            except (OSError, ValueError, EOFError):  # pipe already closed by join
                exc = None
            if exc:
                out.append(f"{actor.name}: {exc[1] if isinstance(exc, tuple) else exc}")
        return out

    def abort(self) -> None:
        """Hard stop: ``SIGKILL`` every actor, shut the shared-memory manager down (it unlinks the
        channels' segments) and remove the host buffers. For dead or hung runtimes, where ``stop()``
        would block."""
        runtime = None if self.emitted is None else self.emitted.source.runtime
        infra = getattr(runtime, "_messaging_infrastructure", None)
        for actor in getattr(infra, "actors", []) or []:
            try:
                os.kill(actor.pid, signal.SIGKILL)
            except (ProcessLookupError, TypeError):
                pass
        try:
            if infra is not None and infra.smm is not None:
                infra.smm.shutdown()
        finally:
            self.emitted = None
            shutil.rmtree(self.directory, ignore_errors=True)

    def stop(self) -> None:
        """Stop the Lava runtime (always call, also after errors) and remove the host buffers."""
        try:
            if self.emitted is not None and self.emitted.source.runtime is not None:
                self.emitted.source.stop()
        finally:
            self.emitted = None
            shutil.rmtree(self.directory, ignore_errors=True)


def _empty_logs(buffers: HostBuffers, total: int) -> dict:
    return {
        "source": np.zeros(total, np.int64),
        "neuron_out": [
            [np.zeros((total, o.shape[1]), np.int32) for o in outs] for outs in buffers.neuron_out
        ],
        "neuron_log": [[np.zeros(total, np.int64) for _ in logs] for logs in buffers.neuron_log],
        "synapse_log": [
            [np.zeros((total, 2), np.int64) for _ in logs] for logs in buffers.synapse_log
        ],
    }


def _collect(buffers: HostBuffers, logs: dict, ring: np.ndarray, dst: slice) -> None:
    logs["source"][dst] = buffers.source_log[ring]
    for name, bufs in (
        ("neuron_out", buffers.neuron_out),
        ("neuron_log", buffers.neuron_log),
        ("synapse_log", buffers.synapse_log),
    ):
        for layer_logs, layer_bufs in zip(logs[name], bufs):
            for log, buf in zip(layer_logs, layer_bufs):
                log[dst] = buf[ring]
