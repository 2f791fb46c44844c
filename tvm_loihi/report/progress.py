"""A progress bar for tuning runs: best-so-far, evaluations per second and ETA, on stderr.

On a terminal the bar redraws one line in place (at most ``refresh_s`` apart); otherwise (a log
file, CI) it prints a plain line every ``line_every`` evaluations and at the end, so logs stay
readable."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from .units import format_quantity

_WIDTH = 24


def _eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressBar:
    """Callable progress display for :func:`tvm_loihi.tune`'s ``callback``.

    Parameters
    ----------
    label : str
        Shown before the bar (e.g. network and strategy).
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    fmt_best : callable, optional
        Formats the best-so-far value (default: seconds with an SI prefix).
    tty : bool, optional
        Force terminal (redraw) or plain-line mode; default ``stream.isatty()``.
    refresh_s : float
        Least time between two redraws on a terminal.
    line_every : int, optional
        Plain mode: print every this many evaluations (default: a tenth of the budget).
    """

    def __init__(
        self,
        label: str,
        stream=None,
        fmt_best: Callable[[float], str] | None = None,
        tty: bool | None = None,
        refresh_s: float = 0.1,
        line_every: int | None = None,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.fmt_best = fmt_best or (lambda v: format_quantity(v, "s"))
        self.tty = bool(self.stream.isatty()) if tty is None else tty
        self.refresh_s, self.line_every = refresh_s, line_every
        self._last_draw = 0.0
        self._last_info: dict | None = None
        self._printed = 0  # evaluations at the last plain line

    def __call__(self, info: dict) -> None:
        """Take one callback dict (``evaluations``, ``budget``, ``best``, ``evals_per_s``...)."""
        self._last_info = info
        done, total = int(info["evaluations"]), max(1, int(info["budget"]))
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= self.refresh_s or done >= total:
                self._last_draw = now
                self.stream.write("\r" + self.render(info) + "\033[K")
                self.stream.flush()
        else:
            every = self.line_every or max(1, total // 10)
            if done - self._printed >= every and done < total:  # the last line comes from close()
                self._printed = done
                self.stream.write(self.render(info) + "\n")
                self.stream.flush()

    def render(self, info: dict) -> str:
        """One line: ``label [#####.....] 45/200 best 2.775 ms | 12.3 eval/s | ETA 0:12``."""
        done, total = int(info["evaluations"]), max(1, int(info["budget"]))
        filled = min(_WIDTH, _WIDTH * done // total)
        rate = float(info.get("evals_per_s") or 0.0)
        eta = _eta((total - done) / rate) if rate > 0 and done < total else "0:00"
        hits = int(info.get("cache_hits") or 0)
        cached = f" ({hits} from log)" if hits else ""
        return (
            f"{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {done}/{total}{cached} "
            f"best {self.fmt_best(info['best'])} | {rate:.1f} eval/s | ETA {eta}"
        )

    def close(self, note: str = "") -> None:
        """Finish the line (terminal) or print the final state (plain, if not printed yet)."""
        info = self._last_info
        if info is None:
            return
        if self.tty:
            self.stream.write(
                "\r" + self.render(info) + "\033[K" + (f" {note}" if note else "") + "\n"
            )
        else:
            self._printed = int(info["evaluations"])
            self.stream.write(self.render(info) + (f" {note}" if note else "") + "\n")
        self.stream.flush()
