"""Farm helpers shared by the RPC tests: the ``tvm-loihi`` command, a ``serve`` command line, and a
tracker plus one ``tvm-loihi serve`` host started the way a user starts them (the CLI).

The fixtures built on these (and on :class:`~tvm_loihi.measure.tracker.LocalFarm`) are in
``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys

from tvm_loihi.measure.tracker import (
    _finish_host_start,
    _spawn,
    free_port,
    start_tracker,
    wait_for_hosts,
)

NO_SECRET_ENV = {"TVM_LOIHI_SECRET": "", "TVM_LOIHI_SECRET_FILE": ""}


def cli() -> list[str]:
    """The ``tvm-loihi`` console script of this environment."""
    exe = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")
    return [exe] if os.path.exists(exe) else [shutil.which("tvm-loihi") or "tvm-loihi"]


def serve_argv(tracker_port: int, key: str, *extra: str) -> list[str]:
    """``tvm-loihi serve`` on 127.0.0.1 (a free port) registering under ``key``."""
    return [
        *cli(),
        "serve",
        "--tracker",
        f"127.0.0.1:{tracker_port}",
        "--key",
        key,
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        *extra,
    ]


@contextlib.contextmanager
def cli_farm(log_dir: str, key: str, secret: str, secret_file: str | None = None):
    """A tracker holding ``secret`` and one ``tvm-loihi serve`` host under ``key``; yields
    ``{"addr", "host", "secret", "secret_file", "log_dir"}`` and kills both on exit.

    The host reads the secret from ``--secret-file secret_file`` (its environment holds none) or,
    without a file, from ``$TVM_LOIHI_SECRET``.
    """
    tracker = start_tracker("127.0.0.1", log_dir, secret=secret)
    host = None
    try:
        if secret_file:
            argv, env = serve_argv(tracker.port, key, "--secret-file", secret_file), NO_SECRET_ENV
        else:
            argv, env = serve_argv(tracker.port, key), {**NO_SECRET_ENV, "TVM_LOIHI_SECRET": secret}
        host = _spawn(f"serve-{argv[argv.index('--port') + 1]}", argv, log_dir, env=env)
        _finish_host_start(host)
        wait_for_hosts("127.0.0.1", tracker.port, key, 1, secret=secret)
        yield {
            "addr": ("127.0.0.1", tracker.port),
            "host": host,
            "secret": secret,
            "secret_file": secret_file,
            "log_dir": log_dir,
        }
    finally:
        if host is not None:
            host.kill()
        tracker.kill()
