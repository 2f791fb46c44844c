"""Strategy registry: ``@register(name)`` on a strategy class; duplicates are rejected."""

from __future__ import annotations

from collections.abc import Callable

_STRATEGIES: dict[str, type] = {}


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
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise KeyError(
            f"unknown search strategy {name!r}; known: {', '.join(sorted(_STRATEGIES))}"
        ) from None


def strategy_names() -> tuple[str, ...]:
    """All registered names, sorted."""
    return tuple(sorted(_STRATEGIES))
