"""The tuning driver: a search strategy against a measurement runner, with the tuning log as cache.

Imports :mod:`tvm_loihi.search`, :mod:`tvm_loihi.measure`, :mod:`tvm_loihi.sim` and
:mod:`tvm_loihi.model`; only the CLI (and ``tvm_loihi.tune``, a lazy attribute) imports it.
"""

from __future__ import annotations

from .driver import TuneResult, default_activity, tune
from .options import RacingOptions, VerifyOptions, WarmStartOptions
from .state import Evaluation, TuneState
from .termination import AnyOf, Budget, Exhausted, Stagnation, Termination, WallTime

__all__ = [
    "AnyOf",
    "Budget",
    "Evaluation",
    "Exhausted",
    "RacingOptions",
    "Stagnation",
    "Termination",
    "TuneResult",
    "TuneState",
    "VerifyOptions",
    "WallTime",
    "WarmStartOptions",
    "default_activity",
    "tune",
]
