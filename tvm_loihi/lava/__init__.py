"""Lava backend: NetworkIR -> Lava process graph -> Lava's Loihi 2 simulator, bit-exact, in a worker
process.

Importing this package does not import Lava (Lava forces the ``fork`` start method process-wide);
Lava is only imported inside the worker (``python -m tvm_loihi.lava.worker``). Modules:
:mod:`.graph` (serialisable description), :mod:`.emit` (description -> Lava processes),
:mod:`.engine` (a live runtime), :mod:`.worker` / :mod:`.client` / :mod:`.protocol` (process
isolation), :mod:`.counters`, :mod:`.runner` (public API). See docs/lava.md.
"""

from __future__ import annotations

from .client import LavaError, LavaTimeoutError
from .counters import reference_counters
from .graph import AccumulatorOverflowError, LavaGraph, check_accumulators, describe
from .runner import LavaResult, LavaSession, close_sessions, run_graphs, run_network

__all__ = [
    "AccumulatorOverflowError",
    "LavaError",
    "LavaGraph",
    "LavaResult",
    "LavaSession",
    "LavaTimeoutError",
    "check_accumulators",
    "close_sessions",
    "describe",
    "reference_counters",
    "run_graphs",
    "run_network",
]
