"""Engineering formatting of physical quantities (``2.775 ms``, ``27.7 uJ``) and of ratios."""

from __future__ import annotations

import math

_PREFIXES = ((1e0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"))


def scale_for(value: float) -> tuple[float, str]:
    """``(factor, prefix)`` putting ``|value|`` in ``[1, 1000)`` (pico up to no prefix)."""
    v = abs(float(value))
    for factor, prefix in _PREFIXES:
        if v >= factor:
            return factor, prefix
    return _PREFIXES[-1]


def format_quantity(value: float | None, unit: str, digits: int = 4) -> str:
    """``value`` in ``unit``, SI prefix, ``digits`` significant digits (``-`` if not finite)."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    if value == 0:
        return f"0 {unit}"
    factor, prefix = scale_for(value)
    scaled = value / factor
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(scaled))))
    return f"{scaled:.{decimals}f} {prefix}{unit}"


def format_change(new: float | None, old: float | None) -> str:
    """Relative change ``new / old - 1`` as a signed percentage (``-12.3 %``)."""
    if new is None or old is None or not old or not math.isfinite(new) or not math.isfinite(old):
        return "-"
    return f"{(new / old - 1.0) * 100.0:+.1f} %"


def format_ratio(value: float | None) -> str:
    """A ratio such as latency / lower bound (``8.61x``)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.2f}x"


def unit_axis(values, unit: str) -> tuple[float, str]:
    """Factor and label (``"ms"``) to plot ``values`` (seconds, joules...) in a readable unit."""
    finite = [abs(float(v)) for v in values if v is not None and math.isfinite(float(v)) and v != 0]
    if not finite:
        return 1.0, unit
    factor, prefix = scale_for(max(finite))
    return factor, prefix + unit


def count_of(n: int, noun: str) -> str:
    """``"1 core"``, ``"9 cores"``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
