"""The package's layers: imports point down (docs/architecture.md).

Every module of ``tvm_loihi`` belongs to a layer; a module may import its own package and packages
of lower layers only -- never a package of the same rank or above. Imports inside functions count
(they are how cycles hide). Deprecated old paths (modules that only alias a moved one) and the
package root (a facade with lazy attributes) are exempt.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tvm_loihi"

# rank of each top-level unit of the package; imports must go to a strictly lower rank (or stay
# inside the unit)
RANKS = {
    "_moved": 0,
    "constants": 0,
    "model": 1,
    "sim": 2,
    "lava_procs": 2,
    "lava": 3,
    "measure": 3,
    "rpc_server": 4,  # the measurement host entry point, above measure
    "search": 3,
    "compiler": 4,
    "tuning": 5,
    "report": 6,
    "cli": 7,
}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "tvm_loihi" else None


def _is_shim(path: pathlib.Path) -> bool:
    text = path.read_text()
    return "_moved.alias(__name__" in text or text.startswith('"""Deprecated path of')


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: pathlib.Path):
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("tvm_loihi"):
                yield node.lineno, name


def _violations():
    out = []
    for module, path in _modules():
        unit = _unit(module)
        if unit is None or _is_shim(path):
            continue
        assert unit in RANKS, f"{module}: its package {unit!r} has no layer in RANKS"
        for line, target in _imports(module, path):
            other = _unit(target)
            if other is None or other == unit or other not in RANKS:
                continue  # the root facade, or a name imported from its own unit
            if RANKS[other] >= RANKS[unit]:
                out.append(
                    f"{path.relative_to(ROOT.parent)}:{line}: {unit} (layer {RANKS[unit]}) "
                    f"imports {target} (layer {RANKS[other]})"
                )
    return out


def test_every_unit_has_a_layer():
    units = {
        p.stem if p.is_file() else p.name
        for p in ROOT.iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
        and p.name != "__init__.py"
        and not (p.is_file() and _is_shim(p))
    }
    assert units <= set(RANKS), f"units without a layer: {sorted(units - set(RANKS))}"


def test_imports_point_down():
    bad = _violations()
    assert not bad, "imports of a higher or same layer:\n" + "\n".join(bad)


def test_the_checker_sees_function_level_imports(tmp_path):
    src = "def f():\n    from ..cli import main\n"
    path = tmp_path / "x.py"
    path.write_text(src)
    assert list(_imports("tvm_loihi.model.x", path)) == [
        (2, "tvm_loihi.cli"),
        (2, "tvm_loihi.cli.main"),
    ]


def _module_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (inside functions too; ``from pkg import name`` is an
    edge to ``pkg.name`` when that is a module, else to ``pkg``); deprecated aliases left out."""
    paths = {m: p for m, p in _modules() if not _is_shim(p)}
    edges: dict[str, set[str]] = {m: set() for m in paths}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                dests = [
                    f"{target}.{a.name}" if f"{target}.{a.name}" in paths else target
                    for a in node.names
                ]
            elif isinstance(node, ast.Import):
                dests = [a.name for a in node.names]
            else:
                continue
            edges[module] |= {d for d in dests if d in paths and d != module}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Modules on a cycle, per strongly connected component (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycles_between_modules():
    # within a package too (the rank check above only sees imports between packages)
    assert _cycles(_module_graph()) == []


def test_the_cycle_check_sees_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "heavy",
    [
        "tvm_loihi.search",
        "tvm_loihi.tuning",
        "tvm_loihi.measure",
        "tvm_loihi.cli",
        "tvm_loihi.report",
        "lava",
    ],
)
def test_import_tvm_loihi_loads_only_what_a_loading_process_needs(heavy):
    code = (
        "import sys, tvm_loihi\n"
        f"bad = sorted(m for m in sys.modules if m == {heavy!r} "
        f"or m.startswith({heavy!r} + '.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import tvm_loihi imported {out.stdout.strip()}"
