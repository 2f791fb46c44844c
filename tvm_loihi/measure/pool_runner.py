"""``PoolRunner``: measure in a local pool of worker processes, through the same host code as RPC
hosts.

Each worker is a TVM ``PopenPoolExecutor`` process (a fresh interpreter, no fork of a process
holding TVM threads) that keeps a :class:`~tvm_loihi.measure.remote.HostState`, exactly as one RPC
session does: a workload is read once per worker from the upload file :meth:`PoolRunner.register`
wrote, and each task carries only the mapping JSON. The host code enforces the per-measurement limit
(``TIMEOUT``); the pool's own time-out (``timeout_s`` + grace) kills a wedged worker, and a worker
that dies is replaced and the candidate retried.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import tempfile
import threading

from .payload import MeasureRequest, UploadPayload
from .records import MeasureError, MeasureInput, MeasureResult
from .runner import Runner

_GRACE_S = 10.0
_WORKER_STATE: list = []  # the HostState of this worker process (set on first use)


def _pool_measure(backend, upload_path: str, workload: tuple[str, str], request_text: str) -> str:
    """Runs in a pool worker: upload on first use of the workload, then measure (JSON text out)."""
    from .remote import HostState, make_backend

    if not _WORKER_STATE:
        _WORKER_STATE.append(HostState(make_backend(backend), host_id=f"local-pool:{os.getpid()}"))
    state = _WORKER_STATE[0]
    if state.has(*workload) == "0":
        with open(upload_path, "rb") as f:
            reply = json.loads(state.upload(f.read()))
        if not reply["ok"]:
            return json.dumps(
                MeasureResult.failure(
                    MeasureError(reply["error"]), reply["message"], state.host_id
                ).to_json()
            )
    return state.measure(request_text)


class PoolRunner(Runner):
    """Measure with ``n_workers`` local processes (the simulator; the same code an RPC host runs).

    Parameters
    ----------
    n_workers : int, optional
        Worker processes (default: the machine's core count).
    backend : str or MeasurementBackend
        ``"sim"``, ``"fast"``, ``"event"``, ``"standin"`` (see
        :func:`tvm_loihi.measure.remote.make_backend`) or a picklable backend instance such as
        ``StandinBackend(seed=3)`` (each worker gets its own copy).
    timeout_s : float
        Per-measurement limit (``TIMEOUT`` result).
    max_attempts : int
        Worker deaths a candidate may cause before it fails with ``HOST_LOST``.
    """

    def __init__(
        self,
        n_workers: int | None = None,
        backend="sim",
        timeout_s: float = 60.0,
        max_attempts: int = 2,
    ) -> None:
        from tvm.support.popen_pool import PopenPoolExecutor

        self.n_parallel = int(n_workers or os.cpu_count() or 1)
        self.backend, self.timeout_s = backend, float(timeout_s)
        self.max_attempts = int(max_attempts)
        self._dir = tempfile.mkdtemp(prefix="tvm_loihi_pool_")
        self._uploads: dict[tuple[str, str], str] = {}
        self._pool = PopenPoolExecutor(
            max_workers=self.n_parallel, timeout=self.timeout_s + _GRACE_S
        )
        self._lock = threading.Lock()
        self._closed = False

    def register(self, network, hardware, activity) -> None:
        """Make a workload measurable (written once to a file every worker reads on first use)."""
        payload = UploadPayload(network, hardware, activity)
        self._remember_activity(network, hardware, activity)
        key = (payload.workload_key, payload.hardware_key)
        if key not in self._uploads:
            path = os.path.join(self._dir, f"{key[0]}_{key[1]}.npz")
            with open(path, "wb") as f:
                f.write(payload.to_bytes())
            self._uploads[key] = path

    def _check_accepting(self) -> None:
        if self._closed:
            raise RuntimeError("PoolRunner is closed")

    def _start(self, accepted) -> None:
        for inp, fut in accepted:
            self._launch(inp, fut, attempt=1)

    def _launch(self, inp: MeasureInput, fut: concurrent.futures.Future, attempt: int) -> None:
        key = (inp.workload_key, inp.hardware_key)
        text = MeasureRequest(
            inp.workload_key, inp.hardware_key, inp.mapping, inp.fidelity, self.timeout_s
        ).to_text()
        inner = self._pool.submit(_pool_measure, self.backend, self._uploads[key], key, text)
        inner.add_done_callback(lambda f: self._finish(inp, fut, attempt, f))

    def _finish(
        self,
        inp: MeasureInput,
        fut: concurrent.futures.Future,
        attempt: int,
        inner: concurrent.futures.Future,
    ) -> None:
        try:
            fut.set_result(MeasureResult.from_json(json.loads(inner.result())))
        except TimeoutError:
            fut.set_result(
                MeasureResult.failure(
                    MeasureError.TIMEOUT,
                    f"pool worker did not answer within "
                    f"{self.timeout_s + _GRACE_S:g} s and was killed",
                    "local-pool",
                )
            )
        except Exception as exc:  # ChildProcessError: the worker died; otherwise the pool broke
            if attempt < self.max_attempts and not self._closed:
                self._launch(inp, fut, attempt + 1)
            else:
                fut.set_result(
                    MeasureResult.failure(
                        MeasureError.HOST_LOST,
                        f"{type(exc).__name__}: {str(exc)[-300:]} (after {attempt} attempt(s))",
                        "local-pool",
                    )
                )

    def close(self) -> None:
        """Stop the workers and delete the upload files."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True)
        shutil.rmtree(self._dir, ignore_errors=True)
