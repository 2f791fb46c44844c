"""``tvm-loihi tracker`` and ``tvm-loihi serve``: the scale-out processes (also the Docker entry
points).

Defaults come from environment variables so that container images can run the bare commands:
``TVM_LOIHI_TRACKER`` (HOST:PORT the hosts register with), ``TVM_LOIHI_HOST`` (address to bind),
``TVM_LOIHI_PORT`` (first port to try), ``TVM_LOIHI_KEY`` (device key), ``TVM_LOIHI_BACKEND``
(``sim``/``fast``/``event``/``standin``), ``TVM_LOIHI_SECRET_FILE`` / ``TVM_LOIHI_SECRET`` (the
farm's shared secret). Both bind 127.0.0.1 unless told otherwise, and both refuse to start without
a secret unless ``--insecure`` is given (which prints a warning)."""

from __future__ import annotations

import os
import sys

from ..constants import TRACKER_READY_MARKER as TRACKER_READY
from .errors import CliError


def env_default(name: str, fallback: str) -> str:
    """``$name`` if set and non-empty, else ``fallback``."""
    return os.environ.get(name) or fallback


def _check_tracker_addr(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise CliError(f"--tracker {text!r}: expected HOST:PORT (e.g. 127.0.0.1:9190)")
    return text


def cmd_serve(args) -> int:
    """Start a measurement host (:mod:`tvm_loihi.rpc_server`) registered with the tracker."""
    from .. import rpc_server

    argv = [
        "--key",
        args.key,
        "--backend",
        args.backend,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    if args.standin_seed is not None:
        argv += ["--standin-seed", str(args.standin_seed)]
    argv += ["--standin-cv", repr(args.standin_cv), "--standin-cost", repr(args.standin_cost)]
    if args.tracker:
        argv += ["--tracker", _check_tracker_addr(args.tracker)]
    if args.custom_addr:
        argv += ["--custom-addr", args.custom_addr]
    if not args.verbose:
        argv.append("--silent")
    if args.secret_file:
        argv += ["--secret-file", args.secret_file]
    if args.insecure:
        argv.append("--insecure")
    return rpc_server.main(argv)


def cmd_tracker(args) -> int:
    """Start the farm's tracker (:mod:`tvm_loihi.measure.tracker_server`: TVM's tracker behind
    the shared-secret handshake) and block until SIGTERM/SIGINT.

    It refuses to start without a configured secret unless ``--insecure`` (TVM's protocol to
    anyone, with a warning).
    """
    if args.action == "status":
        return _tracker_status(args)
    from ..measure.auth import resolve_secret
    from ..measure.tracker_server import bind, insecure_warning, serve

    secret = resolve_secret(args.secret_file, args.insecure, args.host, "tvm-loihi tracker")
    if secret is None:
        print(insecure_warning(args.host), file=sys.stderr, flush=True)
    try:
        sock = bind(args.host, args.port, args.port_end or args.port + 10)
    except OSError as err:
        raise CliError(
            f"cannot start a tracker on {args.host}:{args.port} ({err}); pick another --port"
        ) from None
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO)

    def _ready(host, port):
        print(
            f"{TRACKER_READY} at {host}:{port} pid={os.getpid()} "
            f"auth={'none' if secret is None else 'hmac-sha256'} "
            f"(hosts: tvm-loihi serve --tracker {host}:{port})",
            flush=True,
        )

    serve(sock, secret, _ready)
    return 0


def tracker_status(summary: dict) -> list[dict]:
    """Per device key: registered hosts (``addr:port``), free hosts and queued session requests,
    from a tracker's SUMMARY (what TVM's ``query_rpc_tracker`` prints)."""
    hosts: dict[str, list[str]] = {}
    for server in summary.get("server_info", []):
        key = str(server.get("key", "")).removeprefix("server:")
        addr = server.get("addr") or ["?", "?"]
        hosts.setdefault(key, []).append(f"{addr[0]}:{addr[1]}")
    queues = summary.get("queue_info", {})
    rows = []
    for key in sorted(set(hosts) | set(queues)):
        q = queues.get(key, {})
        registered = sorted(hosts.get(key, []))
        free = int(q.get("free", 0))
        rows.append(
            {
                "key": key,
                "hosts": registered,
                "n_hosts": len(registered),
                "free": free,
                "in_use": max(0, len(registered) - free),
                "pending": int(q.get("pending", 0)),
            }
        )
    return rows


def _tracker_status(args) -> int:
    import json

    from ..measure.auth import AuthenticationError, SecretError, load_secret
    from ..measure.tracker import query_summary
    from ..report.table import format_table

    where = f"{args.host}:{args.port}"
    try:
        secret = "" if args.insecure else load_secret(secret_file=args.secret_file)
        summary = query_summary(args.host, args.port, timeout_s=args.timeout, secret=secret)
    except (AuthenticationError, SecretError) as err:
        raise CliError(str(err)) from None
    except OSError as err:
        raise CliError(
            f"tracker {where} does not answer ({err}); start one with `tvm-loihi tracker "
            f"--port {args.port}` or give its --host/--port"
        ) from None
    rows = tracker_status(summary)
    if args.json:
        print(json.dumps({"tracker": where, "keys": rows}, indent=2))
        return 0
    n = sum(r["n_hosts"] for r in rows)
    print(f"tracker {where}: {n} host(s) registered under {len(rows)} key(s)")
    if rows:
        table = [[r["key"], r["n_hosts"], r["free"], r["in_use"], r["pending"]] for r in rows]
        print(
            format_table(
                ["key", "hosts", "free", "in use", "queued requests"], table, align="lrrrr"
            )
        )
        for r in rows:
            for h in r["hosts"]:
                print(f"  {r['key']}: {h}")
    if any(r["pending"] for r in rows):
        print(
            "queued requests wait for a free host: a client may be holding sessions, or every "
            "host is busy"
        )
    return 0
