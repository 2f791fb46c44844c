"""How the CLI reports failures: one line on stderr saying what failed, where, and what to do.

Commands raise :class:`CliError` with a complete message where they know the context; anything else
is reduced to one line by :func:`one_line` (tracebacks, TVM's FFI frames and blank lines dropped)
and given a hint by type. ``--verbose`` prints the full traceback as well."""

from __future__ import annotations

import re

_FRAME = re.compile(r"^(Traceback|File \"|\s*\d+: |at |During handling|The above exception)")


class CliError(Exception):
    """A user-facing failure whose message already says what, where and what to do."""


def _hint(exc: BaseException) -> str:
    from ..compiler.frontend import OnnxLoadError
    from ..model.mapping import MappingError
    from ..model.resources import LoihiCapacityError

    if isinstance(exc, CliError | LoihiCapacityError):
        return ""
    if isinstance(exc, OnnxLoadError):
        return "re-export the model, or cut it with --outputs NAME"
    if isinstance(exc, FileNotFoundError):
        return "check the path"
    if isinstance(exc, MappingError):
        return "choose a larger --hardware preset or fewer cores per layer"
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return "check that the tracker and hosts are running (tvm-loihi tracker / tvm-loihi serve)"
    return "run again with --verbose for the full traceback"


def one_line(exc: BaseException, hint: bool = True) -> str:
    """``exc`` as a single line, with a hint of what to do unless ``hint`` is False."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    tb = next((i for i, ln in enumerate(lines) if ln.startswith("Traceback")), None)
    if (
        tb is not None
    ):  # a traceback carried in the message (e.g. from a worker): keep its last line
        lines = lines[:tb] + lines[-1:]
    lines = [ln for ln in lines if not _FRAME.match(ln)]
    message = "; ".join(lines) or type(exc).__name__
    known = isinstance(exc, (CliError, ValueError, KeyError, OSError, TimeoutError, RuntimeError))
    if not known:
        message = f"{type(exc).__name__}: {message}"
    hint = _hint(exc) if hint else ""
    return f"{message} ({hint})" if hint and hint not in message else message
