"""Noise-robust selection: race a challenger that looks better than the incumbent (issue #14.4).

On a noisy backend one lucky measurement must not win. When a candidate's measurement beats the
incumbent's figure (the aggregate of its samples, :func:`tvm_loihi.measure.samples.aggregate`: the
mean) by less than the margin the measured noise allows, both are measured again, one sample at a
time, until a one-sided test decides at the configured confidence, or both reach the cap on samples
per mapping, or the budget runs out (then the lower mean wins):

* **win**: the challenger has at least two samples (a new incumbent is never a single noisy
  draw) and its mean log figure is below the incumbent's by at least
  ``t(confidence, df) * sigma * sqrt(1/n_c + 1/n_i)`` (Student's t, ``df`` the pooled degrees of
  freedom);
* **lose**: the challenger's mean is no longer below the incumbent's (it was a lucky draw);
* otherwise one more sample of whichever has fewer (the challenger on ties).

``sigma`` is the noise measured so far: the pooled standard deviation of log figures over every
mapping with two or more samples (the noise is multiplicative, so ``sigma`` is about the
coefficient of variation). Before any repeat it is unknown and every apparent improvement is raced
(the first check); once it is measured as 0 (a deterministic backend) no repeat is spent again.
The simulator fidelities are deterministic by construction, so ``repeats="auto"`` does not race on
them at all. Pure functions; the driver does the measuring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..constants import FIDELITIES

DEFAULT_MAX_REPEATS = 5  # samples per mapping at most with repeats="auto" on a noisy fidelity
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class RacePolicy:
    """How many samples a mapping may get and how sure a win must be.

    Attributes
    ----------
    max_samples : int
        Samples per mapping at most (1: no repeats, every mapping measured once).
    confidence : float
        One-sided confidence of a decided race, in (0.5, 1).
    """

    max_samples: int = 1
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if isinstance(self.max_samples, bool) or not isinstance(self.max_samples, int):
            raise TypeError(f"repeats: max samples must be an integer, got {self.max_samples!r}")
        if self.max_samples < 1:
            raise ValueError(f"repeats must be >= 1 sample per mapping, got {self.max_samples}")
        c = self.confidence
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.5 < c < 1:
            raise ValueError(f"confidence must be a number in (0.5, 1), got {c!r}")

    @property
    def on(self) -> bool:
        return self.max_samples > 1


def resolve_policy(
    repeats, fidelity: str, max_repeats: int = DEFAULT_MAX_REPEATS, confidence=DEFAULT_CONFIDENCE
) -> RacePolicy:
    """The race policy of ``tune(repeats=..., max_repeats=..., confidence=...)``.

    Parameters
    ----------
    repeats : "auto" or int
        ``"auto"``: up to ``max_repeats`` samples per mapping on a noisy fidelity (the stand-in, a
        hardware backend), none on the simulator fidelities (deterministic). An integer ``n``:
        up to ``n`` samples per mapping on any fidelity (``1`` switches racing off).
    fidelity : str
        The search fidelity.
    max_repeats : int
        The cap of ``"auto"``.
    confidence : float
        One-sided confidence of a decided race.
    """
    if repeats == "auto":
        n = 1 if fidelity in FIDELITIES else max_repeats
    elif isinstance(repeats, bool) or not isinstance(repeats, int):
        raise TypeError(f"tune: repeats must be 'auto' or an integer >= 1, got {repeats!r}")
    else:
        n = repeats
    return RacePolicy(int(n), float(confidence))


def noise(samples: Iterable[Sequence[float]]) -> tuple[float | None, int]:
    """Pooled standard deviation of log figures over mappings with 2+ samples, and its degrees
    of freedom; ``(None, 0)`` before any repeat.

    Parameters
    ----------
    samples : iterable of sequence of float
        Per mapping, its positive finite figures (first objective).
    """
    ss, df = 0.0, 0
    for xs in samples:
        logs = [math.log(x) for x in xs if math.isfinite(x) and x > 0]
        if len(logs) >= 2:
            m = math.fsum(logs) / len(logs)
            ss += math.fsum((v - m) ** 2 for v in logs)
            df += len(logs) - 1
    if df == 0:
        return None, 0
    return math.sqrt(ss / df), df


def _t_quantile(confidence: float, df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(confidence, df))


def _mean_log(xs: Sequence[float]) -> float:
    return math.fsum(math.log(x) for x in xs) / len(xs)


def verdict(
    challenger: Sequence[float],
    incumbent: Sequence[float],
    sigma: float | None,
    df: int,
    policy: RacePolicy,
) -> str:
    """``"win"``, ``"lose"`` or ``"more"`` for a challenger against the incumbent (samples of the
    first objective, lower is better); see the module docstring."""
    diff = _mean_log(challenger) - _mean_log(incumbent)
    if diff >= 0:
        return "lose"
    capped = len(challenger) >= policy.max_samples and len(incumbent) >= policy.max_samples
    if sigma is None:
        return "win" if capped else "more"
    if sigma == 0.0:
        return "win"
    if len(challenger) < 2 <= policy.max_samples:  # a new incumbent is never one noisy draw
        return "more"
    se = sigma * math.sqrt(1.0 / len(challenger) + 1.0 / len(incumbent))
    if -diff >= _t_quantile(policy.confidence, df) * se or capped:
        return "win"
    return "more"


def needs_race(
    challenger: Sequence[float],
    incumbent: Sequence[float],
    sigma: float | None,
    df: int,
    policy: RacePolicy,
) -> bool:
    """Whether a newly measured challenger must be raced against the incumbent: racing is on,
    and it looks better without being decided already."""
    if not policy.on or not challenger or not incumbent:
        return False
    if not all(math.isfinite(x) and x > 0 for x in (*challenger, *incumbent)):
        return False
    return verdict(challenger, incumbent, sigma, df, policy) == "more"


def next_sample(challenger: Sequence[float], incumbent: Sequence[float], policy: RacePolicy) -> str:
    """Which to measure again: ``"challenger"`` or ``"incumbent"`` (fewer samples, below the cap;
    the challenger on ties)."""
    c_room = len(challenger) < policy.max_samples
    i_room = len(incumbent) < policy.max_samples
    if c_room and (not i_room or len(challenger) <= len(incumbent)):
        return "challenger"
    return "incumbent"
