"""Parent side of the Lava worker: start it in its own process group, talk to it, kill the whole group.

Lava must not run in the TVM process: importing it forces ``multiprocessing``'s ``fork`` start method for the
whole interpreter (unsafe next to TVM's thread pool and RPC server), each Lava process is a forked OS process
that hangs the interpreter at exit unless stopped, and a killed parent leaves them orphaned. So Lava runs in a
fresh interpreter started with ``start_new_session=True``; on a time-out, an error or :meth:`close` the whole
process group (worker, Lava actors, shared-memory manager, resource tracker) is killed with ``SIGKILL``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from .protocol import HEADER_SIZE, decode, encode, frame, frame_length

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_STDERR_TAIL = 4000  # characters of worker stderr quoted in errors


class LavaError(RuntimeError):
    """A Lava run failed; the message carries the worker's and Lava's actor tracebacks."""


class LavaTimeoutError(LavaError, TimeoutError):
    """The Lava worker did not answer in time; its process group was killed."""


class LavaWorker:
    """One Lava worker subprocess.

    Parameters
    ----------
    python : str
        Interpreter to run the worker with (default: this one).
    """

    def __init__(self, python: str = sys.executable):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [python, "-m", "tvm_loihi.lava.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, start_new_session=True, env=env, close_fds=True)
        self.pid = self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and self.proc.stdin is not None and not self.proc.stdin.closed

    def request(self, header: dict, arrays: dict | None, timeout_s: float) -> tuple[dict, dict]:
        """Send one request and wait for its reply.

        Raises
        ------
        LavaTimeoutError
            No reply within ``timeout_s`` (the worker's process group is killed).
        LavaError
            The worker reported an error or died (its process group is killed).
        """
        deadline = time.monotonic() + timeout_s
        try:
            self._write(frame(encode(header, arrays)), deadline)
            reply, out = decode(self._read(deadline))
        except TimeoutError:
            self.kill()
            raise LavaTimeoutError(f"Lava worker did not answer {header['op']!r} within {timeout_s:.1f} s; "
                                   f"process group {self.pid} killed.{self._stderr_tail()}") from None
        except (OSError, EOFError, ValueError) as exc:
            self.kill()
            raise LavaError(f"Lava worker failed during {header['op']!r} ({exc}); exit code "
                            f"{self.proc.returncode}.{self._stderr_tail()}") from None
        if not reply.get("ok"):
            raise LavaError(f"{reply['error']}\n{reply['traceback']}")
        return reply, out

    def _write(self, data: bytes, deadline: float) -> None:
        fd, view = self.proc.stdin.fileno(), memoryview(data)
        while view:
            _wait(fd, deadline, write=True)
            view = view[os.write(fd, view[: 1 << 16]):]

    def _read(self, deadline: float) -> bytes:
        head = self._read_exact(HEADER_SIZE, deadline)
        return self._read_exact(frame_length(head), deadline)

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd, chunks, got = self.proc.stdout.fileno(), [], 0
        while got < n:
            _wait(fd, deadline, write=False)
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError("worker closed its output")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""
        return f"\n--- worker stderr (tail) ---\n{text[-_STDERR_TAIL:]}" if text.strip() else ""

    def close(self, timeout_s: float = 30.0) -> None:
        """Ask the worker to stop its runtimes and exit; then kill whatever is left of its process group."""
        try:
            if self.alive:
                self.request({"op": "close"}, None, timeout_s)  # answered once every runtime stopped
        except LavaError:
            pass  # killed below either way
        finally:
            self.kill()

    def kill(self) -> None:
        """``SIGKILL`` the worker's whole process group (idempotent) and reap the worker.

        Signalled before reaping: a process group id is not reused while any member (the worker zombie or an
        orphaned Lava actor) exists."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def __del__(self):  # last resort: never leave a Lava process group behind
        if getattr(self, "proc", None) is not None and self.proc.returncode is None:
            self.kill()


def _wait(fd: int, deadline: float, write: bool) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    ready = select.select([], [fd], [], remaining) if write else select.select([fd], [], [], remaining)
    if not (ready[1] if write else ready[0]):
        raise TimeoutError


def graph_arrays(blob: bytes) -> dict[str, np.ndarray]:
    """The ``load`` request's array payload for ``LavaGraph.to_bytes()``."""
    return {"graph": np.frombuffer(blob, dtype=np.uint8)}
