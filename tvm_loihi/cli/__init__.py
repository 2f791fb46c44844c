"""The ``tvm-loihi`` command line (console script ``tvm_loihi.cli:main``); see docs/cli.md.

Commands: ``tune``/``demo`` (:mod:`.tune_cmd`), ``compile``/``run`` (:mod:`.build_cmd`), ``inspect``
(:mod:`.inspect_cmd`), ``serve``/``tracker`` (:mod:`.farm_cmd`), ``calibrate``
(:mod:`.calibrate_cmd`), ``log summary|best`` (:mod:`.log_cmd`), ``list`` (:mod:`.list_cmd`). Every
failure is one line on stderr (what, where, what to do) and a non-zero exit code: 2 for usage
errors, 1 for everything else; ``--verbose`` adds the traceback."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
import warnings

from .errors import CliError, one_line
from .parser import build_parser

__all__ = ["CliError", "main"]


# Command -> (module, function): only the command run is imported, so `list` or a bad argument
# never pays for TVM.
_COMMANDS = {
    "tune": ("tune_cmd", "cmd_tune"),
    "demo": ("tune_cmd", "cmd_tune"),
    "compile": ("build_cmd", "cmd_compile"),
    "run": ("build_cmd", "cmd_run"),
    "inspect": ("inspect_cmd", "cmd_inspect"),
    "serve": ("farm_cmd", "cmd_serve"),
    "tracker": ("farm_cmd", "cmd_tracker"),
    "calibrate": ("calibrate_cmd", "cmd_calibrate"),
    "log": ("log_cmd", "cmd_log"),
    "list": ("list_cmd", "cmd_list"),
}


def _command(name: str):
    module, func = _COMMANDS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = " ".join(str(message).split())
    print(f"tvm-loihi: warning: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run ``tvm-loihi`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error already printed on one line (2)
        return int(stop.code or 0)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the resume hint of `tune`
    verbose = bool(getattr(args, "verbose", False))
    args.verbose = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR, format="%(name)s: %(message)s"
    )
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return int(_command(args.command)(args) or 0)
        except BrokenPipeError:  # stdout closed early (`tvm-loihi list | head`): not an error
            sys.stdout = open(os.devnull, "w")
            return 0
        except KeyboardInterrupt:
            print(f"tvm-loihi {args.command}: interrupted", file=sys.stderr)
            return 130
        except SystemExit as stop:  # a library's own exit with a message
            if isinstance(stop.code, str):
                print(f"tvm-loihi {args.command}: error: {stop.code}", file=sys.stderr)
                return 2
            return int(stop.code or 0)
        except Exception as exc:
            if verbose:
                traceback.print_exc()
            print(f"tvm-loihi {args.command}: error: {one_line(exc)}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
