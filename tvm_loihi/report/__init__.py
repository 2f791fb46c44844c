"""What a user sees of a tuning run: text tables, a progress bar, the JSON summary and PNG figures.

Modules: :mod:`.units` (engineering formatting), :mod:`.table` (comparison and resource tables),
:mod:`.progress` (progress bar for :func:`tvm_loihi.tune`'s callback), :mod:`.summary` (the
``--json`` summary and its schema check), :mod:`.figures` (convergence, utilisation, Pareto front)
and :mod:`.placement` (cores on the mesh with link load). Figures use matplotlib's ``Agg`` backend
and are imported lazily, so text-only commands never import matplotlib."""

from __future__ import annotations

from .progress import ProgressBar
from .summary import SUMMARY_SCHEMA, SUMMARY_VERSION, validate_summary
from .table import comparison_rows, format_comparison, format_table
from .units import format_quantity

__all__ = [
    "SUMMARY_SCHEMA",
    "SUMMARY_VERSION",
    "ProgressBar",
    "comparison_rows",
    "format_comparison",
    "format_quantity",
    "format_table",
    "validate_summary",
]
