"""Deprecated path of :mod:`tvm_loihi.model.network` (kept for one release)."""

from . import _moved

_moved.alias(__name__, "tvm_loihi.model.network")
