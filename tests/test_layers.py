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
