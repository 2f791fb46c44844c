"""One-line argument type checks for the public entry points (``tune``, ``apply_best``,
``load_onnx``, ``evaluate``...): a wrong object fails at the call with the function, the parameter,
the expected type and what was given, instead of a traceback from deep inside."""

from __future__ import annotations


def describe(value) -> str:
    """``"str 'model.onnx'"``, ``"IRModule"``, ``"None"``: what a user passed, in a few words."""
    if value is None:
        return "None"
    name = type(value).__name__
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return f"{name} {text if len(text) <= 40 else text[:37] + '...'}"
    return name


def check_type(
    func: str, param: str, value, expected: type | tuple[type, ...], hint: str = ""
) -> None:
    """Raise ``TypeError("func: param must be X (hint), got Y")`` unless ``value`` is ``expected``.

    Parameters
    ----------
    func, param : str
        The public function and its parameter, as the user wrote them.
    value : object
        The argument.
    expected : type or tuple of type
        Accepted types (``bool`` is never accepted for ``int``).
    hint : str
        Where a right value comes from, e.g. ``"from tvm_loihi.extract_networks(mod)"``.
    """
    types = expected if isinstance(expected, tuple) else (expected,)
    bool_for_int = isinstance(value, bool) and bool not in types
    if isinstance(value, types) and not bool_for_int:
        return
    names = [t.__name__ for t in types]
    names = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    raise TypeError(
        f"{func}: {param} must be {names}{f' ({hint})' if hint else ''}, got {describe(value)}"
    )
