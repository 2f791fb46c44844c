"""Old import paths of modules that moved (kept for one release, with a DeprecationWarning)."""

from __future__ import annotations

import importlib
import sys
import warnings


def alias(old: str, new: str) -> None:
    """Make ``import old`` give module ``new`` (the very same object) and warn once per process."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; import {new}",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
