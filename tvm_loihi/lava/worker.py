"""The Lava worker process: ``python -m tvm_loihi.lava.worker`` (started by
:mod:`tvm_loihi.lava.client`).

Reads request frames (:mod:`tvm_loihi.lava.protocol`) on stdin and answers on the original stdout;
anything Lava or numpy prints goes to stderr (fd 1 is re-pointed there), so it cannot corrupt the
protocol. Requests:

* ``{"op": "load", "id": i, "rows": r}`` + ``graph`` (``LavaGraph.to_bytes()`` as uint8): emit,
  compile and start a runtime; replies with its timings;
* ``{"op": "run", "id": i}`` + ``x``: run a batch; replies with ``out<k>`` arrays, counters and
  timings;
* ``{"op": "unload", "id": i}``: stop that runtime; ``{"op": "close"}``: stop everything and exit.

Errors are replies ``{"ok": false, "error": ...}`` carrying the Python traceback and the tracebacks
of Lava's actor processes. A runtime that failed is torn down by force and the reply is marked
``fatal`` (the parent then kills this worker's process group); a batch whose actor died or whose
time-out passed is aborted by the engine's watchdog. Every runtime is stopped in ``finally``, also
when stdin closes because the parent died.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback

import numpy as np

from .protocol import decode, encode, frame, read_frame


class _Replies:
    """Serialises replies: the watchdog thread may answer (fatally) while the main thread is stuck
    in Lava."""

    def __init__(self, stream):
        self.stream, self.lock = stream, threading.Lock()

    def send(self, header: dict, arrays: dict | None = None) -> None:
        with self.lock:
            self.stream.write(frame(encode(header, arrays)))
            self.stream.flush()

    def abort(self, reason: str, tracebacks: list[str], timed_out: bool) -> None:
        """Reply that the running batch was aborted, then end the worker (its Lava runtime cannot
        recover)."""
        text = "Lava actor process tracebacks:\n" + "\n".join(tracebacks) if tracebacks else ""
        try:
            self.send(
                {
                    "ok": False,
                    "fatal": True,
                    "timeout": timed_out,
                    "error": f"Lava run aborted: {reason}",
                    "traceback": text,
                }
            )
        finally:
            os._exit(1)


def _handle(
    header: dict, arrays: dict, engines: dict, replies: _Replies, workdir: str | None
) -> tuple[dict, dict]:
    from .engine import LavaEngine
    from .graph import LavaGraph

    op, key = header["op"], header.get("id")
    if op == "load":
        graph = LavaGraph.from_bytes(arrays["graph"].tobytes())
        engines[key] = LavaEngine(
            graph, rows=header["rows"], on_abort=replies.abort, workdir=workdir
        )
        return {
            "ok": True,
            "timings": engines[key].timings,
            "n_processes": graph.n_processes,
            "directory": engines[key].directory,
        }, {}
    if op == "run":
        outputs, counters, timings = engines[key].run(arrays["x"], header.get("timeout_s"))
        return (
            {"ok": True, "counters": counters, "timings": timings},
            {f"out{k}": o for k, o in enumerate(outputs)},
        )
    if op == "unload":
        engines.pop(key).stop()
        return {"ok": True}, {}
    if op == "close":  # stop before replying: the parent kills the process group on the reply
        while engines:
            engines.popitem()[1].stop()
        return {"ok": True}, {}
    raise ValueError(f"unknown request {op!r}")


def _error_reply(exc: BaseException, header: dict, engines: dict) -> dict:
    engine = engines.pop(header.get("id"), None)
    actors = engine.actor_errors() if engine is not None else []
    if engine is not None:
        engine.abort()  # not stop(): a runtime with a failed actor can block stop() forever
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if actors:
        text += "\nLava actor process tracebacks:\n" + "\n".join(actors)
    # A failed runtime was torn down by force; the parent retires this worker with it.
    return {
        "ok": False,
        "fatal": engine is not None,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": text,
    }


def serve(proto_in, proto_out, workdir: str | None = None) -> None:
    """Answer requests until ``close`` or end of input; always stops every runtime."""
    engines: dict = {}
    replies = _Replies(proto_out)
    try:
        while True:
            payload = read_frame(proto_in)
            if payload is None:
                return
            header, arrays = decode(payload)
            try:
                reply = _handle(header, arrays, engines, replies, workdir)
            except Exception as exc:  # reported to the parent, which raises it
                reply = (_error_reply(exc, header, engines), {})
            replies.send(*reply)
            if header["op"] == "close":
                return
    finally:
        for engine in engines.values():
            engine.stop()


def main(workdir: str | None = None) -> None:
    """Serve on stdin/stdout; host buffers go under ``workdir`` (default: the system temp
    directory)."""
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints from Lava and its actors land on stderr, not in the protocol stream
    sys.stdout = sys.stderr
    # Lava forks one actor per process; they must not inherit the protocol pipes, or a killed
    # worker's orphans would keep them open and the parent would never see end-of-file.
    out_fd = proto_out.fileno()
    os.register_at_fork(after_in_child=lambda: _drop_protocol_fds(out_fd))
    np.seterr(all="ignore")
    serve(sys.stdin.buffer, proto_out, workdir)


def _drop_protocol_fds(out_fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        os.close(out_fd)
    except OSError:
        pass


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
