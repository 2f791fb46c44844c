"""The option groups of :func:`tvm_loihi.tuning.driver.tune`: small frozen values, one per concern.

``tune(..., verify=VerifyOptions(...), racing=RacingOptions(...), warm=WarmStartOptions(...))``;
the stopping rules are already objects (:mod:`tvm_loihi.tuning.termination`). The flat keywords
of earlier releases (``verify_fidelity=``, ``repeats=``, ``warm_start=`` ...) map onto these groups
(:func:`from_flat_keywords`) and are deprecated.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..measure.energy_budget import fastest_within
from ..measure.records import MeasureResult
from .racing import DEFAULT_CONFIDENCE, DEFAULT_MAX_REPEATS


@dataclass(frozen=True)
class VerifyOptions:
    """How the reported best is chosen once the search has stopped.

    Attributes
    ----------
    fidelity : str, optional
        Re-measure the ``top_k`` best distinct mappings of the search (by the first objective;
        failures excluded) and the Lava default at this fidelity, through the same runner and
        log, and report the best of them there as ``best_*`` (and the default's measurement there
        as ``default_*``); :mod:`tvm_loihi.tuning.verify`. On a fidelity the racing options
        call noisy (``repeats="auto"``: the stand-in, hardware) the verified candidates are
        raced like the search's (:func:`tvm_loihi.tuning.verify.race_verified`), so the best is
        never one lucky draw. Not counted against ``budget``; reported as
        ``TuneResult.verify_evaluations`` (``verify_repeats`` of them race repeats). None
        (default): no verification.
    top_k : int
        How many of the search's best mappings to verify (default 8; at least 1 when
        ``fidelity`` is set).
    max_energy_increase : float, optional
        Report the fastest candidate (the verified ones with ``fidelity``, else every successful
        measurement) whose energy per inference is at most ``1 + max_energy_increase`` times the
        Lava default's at the same fidelity (``0.1`` = 10 %); the unconstrained best is kept as
        ``TuneResult.fastest``. The pick is confirmed like any best.
    """

    fidelity: str | None = None
    top_k: int = 8
    max_energy_increase: float | None = None

    def __post_init__(self) -> None:
        if self.max_energy_increase is not None:
            fastest_within([], MeasureResult(1.0, 1.0), self.max_energy_increase)  # type/range
        if self.fidelity is not None and self.top_k < 1:
            raise ValueError(f"tune: verify_top_k must be >= 1, got {self.top_k}")


@dataclass(frozen=True)
class RacingOptions:
    """Noise-robust selection (:mod:`tvm_loihi.tuning.racing`).

    A candidate that looks better than the incumbent by less than the measured noise allows is
    raced against it (both re-measured) until the comparison is decided at ``confidence``, each
    reaches the cap on samples, or the budget runs out. Every repeat is an evaluation (counted
    against ``budget``) and a record of the log; a mapping's fitness is the mean of its samples
    (:func:`tvm_loihi.measure.samples.aggregate`).

    Attributes
    ----------
    repeats : "auto" or int
        ``"auto"`` (default): cap ``max_repeats`` on a noisy fidelity (the stand-in, hardware), no
        repeats on the simulator fidelities (deterministic); an integer: that cap on any fidelity
        (``1``: off).
    max_repeats : int
        Samples per mapping at most with ``repeats="auto"`` (default 5).
    confidence : float
        One-sided confidence at which a race is decided (default 0.95).
    """

    repeats: str | int = "auto"
    max_repeats: int = DEFAULT_MAX_REPEATS
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        r = self.repeats
        if r != "auto" and (isinstance(r, bool) or not isinstance(r, int)):
            raise TypeError(f"tune: repeats must be 'auto' or an integer >= 1, got {r!r}")


@dataclass(frozen=True)
class WarmStartOptions:
    """Warm start from the tuning logs of earlier runs (:mod:`tvm_loihi.tuning.warm`).

    Attributes
    ----------
    logs : tuple of path
        Tuning logs of earlier runs (other networks, other hardware): the ``top_k`` best mappings
        of each (workload, hardware) in them, repaired to this problem
        (:func:`tvm_loihi.tuning.warm.warm_seeds`), are asked first as extra seeds (measured like
        any candidate, never trusted); strategies without seeds ignore them. Empty (default): no
        warm start.
    top_k : int
        Mappings taken per (workload, hardware) of each log (default 3).
    """

    logs: tuple = field(default=())
    top_k: int = 3

    def __post_init__(self) -> None:
        if isinstance(self.logs, (str, bytes)) or not isinstance(self.logs, Sequence):
            raise TypeError(
                f"tune: warm-start logs must be a sequence of paths, got {type(self.logs).__name__}"
            )
        object.__setattr__(self, "logs", tuple(self.logs))


# flat keyword of earlier releases -> (group, field)
FLAT_KEYWORDS = {
    "verify_fidelity": ("verify", "fidelity"),
    "verify_top_k": ("verify", "top_k"),
    "max_energy_increase": ("verify", "max_energy_increase"),
    "repeats": ("racing", "repeats"),
    "max_repeats": ("racing", "max_repeats"),
    "confidence": ("racing", "confidence"),
    "warm_start": ("warm", "logs"),
    "warm_top_k": ("warm", "top_k"),
}
_GROUPS = {"verify": VerifyOptions, "racing": RacingOptions, "warm": WarmStartOptions}


def from_flat_keywords(
    given: dict[str, object], flat: dict[str, object], stacklevel: int = 3
) -> dict[str, object]:
    """The option groups of a ``tune`` call: ``given`` (``{"verify": VerifyOptions or None,
    ...}``) completed from the deprecated flat keywords in ``flat`` (one DeprecationWarning per
    call). A group given both ways, or an unknown keyword, is a ``TypeError``."""
    unknown = sorted(set(flat) - set(FLAT_KEYWORDS))
    if unknown:
        raise TypeError(f"tune() got an unexpected keyword argument {unknown[0]!r}")
    fields: dict[str, dict[str, object]] = {}
    for name, value in flat.items():
        group, attr = FLAT_KEYWORDS[name]
        if group == "warm" and attr == "logs":
            value = () if value is None else value  # warm_start=None meant "no warm start"
        fields.setdefault(group, {})[attr] = value
    out = {}
    for group, cls in _GROUPS.items():
        value = given.get(group)
        if value is not None and not isinstance(value, cls):
            raise TypeError(f"tune: {group} must be a {cls.__name__}, got {type(value).__name__}")
        if group in fields:
            if value is not None:
                names = ", ".join(k for k in flat if FLAT_KEYWORDS[k][0] == group)
                raise TypeError(f"tune: give {group}={cls.__name__}(...) or {names}, not both")
            value = cls(**fields[group])
        out[group] = value if value is not None else cls()
    if flat:
        hint = "; ".join(
            f"{k}= -> {FLAT_KEYWORDS[k][0]}={_GROUPS[FLAT_KEYWORDS[k][0]].__name__}"
            f"({FLAT_KEYWORDS[k][1]}=...)"
            for k in flat
        )
        warnings.warn(
            f"tune(): the flat keywords are deprecated and will be removed in the next release; "
            f"use the option groups ({hint})",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
    return out
