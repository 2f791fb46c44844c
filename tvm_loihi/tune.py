"""Deprecated path of :mod:`tvm_loihi.tuning` (kept for one release).

``tvm_loihi.tune`` is also the tuning function; so that importing this old module path cannot
shadow it on the package, the module itself is callable (``tvm_loihi.tune(...)`` keeps working).
"""

import sys
import types
import warnings

from .tuning import driver as _driver

warnings.warn(
    "tvm_loihi.tune (the module) is deprecated and will be removed in the next release; "
    "import tvm_loihi.tuning",
    DeprecationWarning,
    stacklevel=2,
)


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return _driver.tune(*args, **kwargs)


_module = sys.modules[__name__]
_module.__dict__.update({k: v for k, v in vars(_driver).items() if not k.startswith("__")})
_module.__class__ = _CallableModule
