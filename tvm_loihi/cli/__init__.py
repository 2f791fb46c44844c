"""The ``tvm-loihi`` command line (console script ``tvm_loihi.cli:main``); see docs/cli.md.

Commands: ``tune``/``demo`` (:mod:`.tune_cmd`), ``compile``/``run`` (:mod:`.build_cmd`), ``inspect``
(:mod:`.inspect_cmd`), ``serve``/``tracker`` (:mod:`.farm_cmd`), ``calibrate``
(:mod:`.calibrate_cmd`), ``log summary|best`` (:mod:`.log_cmd`), ``list`` (:mod:`.list_cmd`). Every
failure is one line on stderr (what, where, what to do) and a non-zero exit code: 2 for usage
errors, 1 for everything else; ``--verbose`` adds the traceback."""

from __future__ import annotations

import logging
import sys
import traceback
import warnings

from .errors import CliError, one_line
from .parser import build_parser

__all__ = ["CliError", "main"]


def _commands() -> dict:
    from .build_cmd import cmd_compile, cmd_run
    from .calibrate_cmd import cmd_calibrate
    from .farm_cmd import cmd_serve, cmd_tracker
    from .inspect_cmd import cmd_inspect
    from .list_cmd import cmd_list
    from .log_cmd import cmd_log
    from .tune_cmd import cmd_tune

    return {
        "tune": cmd_tune,
        "demo": cmd_tune,
        "compile": cmd_compile,
        "run": cmd_run,
        "inspect": cmd_inspect,
        "serve": cmd_serve,
        "tracker": cmd_tracker,
        "calibrate": cmd_calibrate,
        "log": cmd_log,
        "list": cmd_list,
    }


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = " ".join(str(message).split())
    print(f"tvm-loihi: warning: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run ``tvm-loihi`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error already printed on one line (2)
        return int(stop.code or 0)
    verbose = bool(getattr(args, "verbose", False))
    args.verbose = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR, format="%(name)s: %(message)s"
    )
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return int(_commands()[args.command](args) or 0)
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
