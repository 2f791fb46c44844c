"""Parent side of the Lava worker: start it in its own process group, talk to it, kill the whole
group.

Lava must not run in the TVM process: importing it forces ``multiprocessing``'s ``fork`` start
method for the whole interpreter (unsafe next to TVM's thread pool and RPC server), each Lava
process is a forked OS process that hangs the interpreter at exit unless stopped, and a killed
parent leaves them orphaned. So Lava runs in a fresh interpreter started with
``start_new_session=True``; on a time-out, an error or :meth:`close` the whole process group
(worker, Lava actors, shared-memory manager, resource tracker) is killed with ``SIGKILL``.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil

from .protocol import HEADER_SIZE, decode, encode, frame, frame_length

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_STDERR_TAIL = 4000  # characters of worker stderr quoted in errors
TRACKER_WAIT_S = 2.0  # time the resource tracker gets to unlink a killed run's shared memory
POLL_S = 0.5  # how often a waiting parent checks that the worker is still alive
GRACE_S = 10.0  # the worker enforces run time-outs itself; the parent kills the group this later

# Start the worker without running tvm_loihi/__init__.py: that imports TVM (about 1 s, and TVM's
# thread pool has no business in the process that forks Lava's actors). A bare package object stands
# in for it; the worker only needs tvm_loihi.model, tvm_loihi.lava and tvm_loihi.lava_procs, none of
# which import TVM. ``python -m tvm_loihi.lava.worker`` runs the same worker, with the package
# imported in full.
_BOOTSTRAP = (
    "import sys, types\n"
    "root = sys.argv[1]\n"
    "sys.path[0] = root\n"
    "pkg = types.ModuleType('tvm_loihi')\n"
    "pkg.__path__ = [root + '/tvm_loihi']\n"
    "sys.modules['tvm_loihi'] = pkg\n"
    "from tvm_loihi.lava.worker import main\n"
    "main(sys.argv[2])\n"
)


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
        self._stderr = tempfile.TemporaryFile()
        # The parent owns the host-buffer directory, so it is removed even when the worker is
        # killed.
        self.workdir = tempfile.mkdtemp(prefix="tvm_loihi_lava_", dir=scratch_dir())
        self.proc = subprocess.Popen(
            [python, "-c", _BOOTSTRAP, _PACKAGE_ROOT, self.workdir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
            close_fds=True,
        )
        self.pid = self.proc.pid

    @property
    def alive(self) -> bool:
        stdin = self.proc.stdin
        return self.proc.returncode is None and stdin is not None and not stdin.closed

    def request(self, header: dict, arrays: dict | None, timeout_s: float) -> tuple[dict, dict]:
        """Send one request and wait for its reply.

        Raises
        ------
        LavaTimeoutError
            No reply within ``timeout_s`` (the worker's process group is killed).
        LavaError
            The worker reported an error or died (its process group is killed).
        """
        if not self.alive:
            raise LavaError(f"Lava worker {self.pid} is closed (exit code {self.proc.returncode})")
        deadline = time.monotonic() + timeout_s + GRACE_S
        if header["op"] == "run":
            header = {**header, "timeout_s": timeout_s}
        try:
            self._write(frame(encode(header, arrays)), deadline)
            reply, out = decode(self._read(deadline))
        except TimeoutError:
            self.kill()
            raise LavaTimeoutError(
                f"Lava worker did not answer {header['op']!r} within "
                f"{timeout_s:.1f} s "
                f"(+{GRACE_S:.0f} s grace); "
                f"process group {self.pid} killed.{self._stderr_tail()}"
            ) from None
        except (OSError, EOFError, ValueError) as exc:
            self.kill()
            raise LavaError(
                f"Lava worker failed during {header['op']!r} ({exc}); exit code "
                f"{self.proc.returncode}.{self._stderr_tail()}"
            ) from None
        if not reply.get("ok"):
            message = f"{reply['error']}\n{reply['traceback']}"
            if reply.get("fatal"):  # the worker aborted the batch and exits: reap its whole group
                self.kill()
                message += f"\nprocess group {self.pid} killed.{self._stderr_tail()}"
            raise (LavaTimeoutError if reply.get("timeout") else LavaError)(message)
        return reply, out

    def _write(self, data: bytes, deadline: float) -> None:
        fd, view = self.proc.stdin.fileno(), memoryview(data)
        while view:
            if not _wait(fd, deadline, write=True):
                raise TimeoutError
            view = view[os.write(fd, view[: 1 << 16]) :]

    def _read(self, deadline: float) -> bytes:
        head = self._read_exact(HEADER_SIZE, deadline)
        return self._read_exact(frame_length(head), deadline)

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd, chunks, got = self.proc.stdout.fileno(), [], 0
        while got < n:
            while not _wait(fd, min(deadline, time.monotonic() + POLL_S), write=False):
                if self.proc.poll() is not None:
                    raise EOFError("worker died")
                if time.monotonic() > deadline:
                    raise TimeoutError
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
        """Ask the worker to stop its runtimes and exit; then kill whatever is left of its process
        group."""
        try:
            if self.alive:
                # Answered once every runtime stopped.
                self.request({"op": "close"}, None, timeout_s)
        except LavaError:
            pass  # killed below either way
        finally:
            self.kill()

    def kill(self) -> None:
        """``SIGKILL`` the worker's whole process group (idempotent) and reap the worker.

        Python's resource tracker is spared until the others are gone: when the last holder of
        Lava's shared-memory channels dies it unlinks the segments a killed run would otherwise leak
        in /dev/shm; then it exits by itself (or is killed after a short wait). Members are
        signalled before the worker is reaped: a process group id is not reused while any member
        exists."""
        members = _group_members(self.pid)
        trackers = [p for p in members if _is_resource_tracker(p)]
        for p in members:
            if p not in trackers:
                _sigkill(p)
        self.proc.wait()
        psutil.wait_procs(trackers, timeout=TRACKER_WAIT_S)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __del__(self):  # last resort: never leave a Lava process group behind
        if getattr(self, "proc", None) is not None and self.proc.returncode is None:
            self.kill()


def scratch_dir() -> str | None:
    """Where host buffers live: /dev/shm (RAM) when writable, else the default temp directory."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _group_members(pgid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid:
                out.append(p)
        except (ProcessLookupError, psutil.Error):
            pass
    return out


def _is_resource_tracker(p: psutil.Process) -> bool:
    try:
        return "resource_tracker" in " ".join(p.cmdline())
    except psutil.Error:
        return False


def _sigkill(p: psutil.Process) -> None:
    try:
        p.send_signal(signal.SIGKILL)
    except psutil.Error:
        pass


def _wait(fd: int, until: float, write: bool) -> bool:
    """Wait until ``fd`` is ready (True) or the monotonic time ``until`` passed (False)."""
    remaining = max(0.0, until - time.monotonic())
    if write:
        return bool(select.select([], [fd], [], remaining)[1])
    return bool(select.select([fd], [], [], remaining)[0])


def graph_arrays(blob: bytes) -> dict[str, np.ndarray]:
    """The ``load`` request's array payload for ``LavaGraph.to_bytes()``."""
    return {"graph": np.frombuffer(blob, dtype=np.uint8)}
