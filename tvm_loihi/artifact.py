"""Deprecated path of :mod:`tvm_loihi.compiler.artifact` (kept for one release)."""

from . import _moved

_moved.alias(__name__, "tvm_loihi.compiler.artifact")
