"""Strategy registry: ``@register(name)`` on a strategy class; duplicates are rejected.

Strategies defined above this layer (they drive measurements, so they live in
:mod:`tvm_loihi.tuning`) are named in :data:`PLUGINS` and imported on first lookup or listing, so
every entry point finds and lists the same strategies whatever it imported first.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

_STRATEGIES: dict[str, type] = {}
# modules that register strategies and that this layer must not import at load time
PLUGINS = ("tvm_loihi.tuning.surrogate",)
_loaded = False


def _load_plugins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in PLUGINS:
            importlib.import_module(module)


def register(name: str) -> Callable[[type], type]:
    """Class decorator that makes a strategy available to :func:`tvm_loihi.tune` under ``name``.

    Raises
    ------
    ValueError
        When ``name`` is already registered.
    """

    def deco(cls: type) -> type:
        if name in _STRATEGIES:
            raise ValueError(
                f"search strategy {name!r} is already registered ({_STRATEGIES[name].__name__})"
            )
        cls.name = name
        _STRATEGIES[name] = cls
        return cls

    return deco


def get_strategy(name: str) -> type:
    """The strategy class registered as ``name``; the error lists the known ones."""
    if name not in _STRATEGIES:
        _load_plugins()
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise KeyError(
            f"unknown search strategy {name!r}; known: {', '.join(sorted(_STRATEGIES))}"
        ) from None


def strategy_names() -> tuple[str, ...]:
    """All registered names (:data:`PLUGINS` included), sorted."""
    _load_plugins()
    return tuple(sorted(_STRATEGIES))
