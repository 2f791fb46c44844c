"""How the CLI reports failures: one line on stderr saying what failed, where, and what to do.

Commands raise :class:`CliError` with a complete message where they know the context; anything else
is reduced to one line by :func:`one_line` (tracebacks, TVM's FFI frames and blank lines dropped)
and given a hint by type. ``--verbose`` prints the full traceback as well."""

from __future__ import annotations

import re
import sys

_FRAME = re.compile(r"^(Traceback|File \"|\s*\d+: |at |During handling|The above exception)")


class CliError(Exception):
    """A user-facing failure whose message already says what, where and what to do."""


def _loaded(module: str, name: str) -> type:
    """``module.name`` if that module is already imported, else a class nothing is an instance of:
    an exception of a module never imported cannot be raised, and formatting an error must not
    import TVM (the frontend) just to rule it out."""
    loaded = sys.modules.get(module)
    return getattr(loaded, name) if loaded is not None else _Never


class _Never(Exception):
    pass


def _hint(exc: BaseException) -> str:
    if isinstance(exc, CliError | _loaded("tvm_loihi.model.resources", "LoihiCapacityError")):
        return ""
    if isinstance(exc, _loaded("tvm_loihi.compiler.frontend", "OnnxLoadError")):
        return "re-export the model, or cut it with --outputs NAME"
    if isinstance(exc, FileNotFoundError):
        return "check the path"
    if isinstance(exc, _loaded("tvm_loihi.model.mapping", "MappingError")):
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
