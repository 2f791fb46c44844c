"""The layering figures of docs/architecture.md (#12), measured on the working tree.

* import cycles between modules of ``tvm_loihi``: strongly connected components (more than one
  module) of the graph "module A imports module B", every ``import``/``from ... import`` statement
  counted wherever it stands (inside functions too). ``from pkg import name`` is an edge to
  ``pkg.name`` when that is a module, else to ``pkg`` (its ``__init__``); importing a submodule is
  not counted as importing its parent package's ``__init__``. The deprecated alias modules (old
  import paths) are left out.
* intra-package imports inside functions: import statements of a ``tvm_loihi`` module (relative or
  absolute) that stand inside a function or method, per statement, by top-level unit.
* modules loaded by ``import tvm_loihi`` (``tvm_loihi`` and ``tvm_loihi.*`` in ``sys.modules`` of a
  fresh interpreter), and after ``import tvm`` as well.
* time of ``import tvm_loihi``, and of ``import tvm_loihi, tvm``: median (and range) over
  ``--runs`` fresh interpreters, timed inside each with ``time.perf_counter``.
* reads of a per-core limit (``.limits``, a ``CoreLimits`` field) per module: the candidates for
  a copy of the fit rule, to be read (the count of copies is a reading of those modules, not a
  count this script can make).

    python scripts/layer_figures.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import statistics
import subprocess
import sys
from collections import Counter

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tvm_loihi"
LIMIT_FIELDS = (
    "max_neurons",
    "max_input_axons",
    "max_output_axons",
    "synmem_words",
    "max_neuron_groups",
)


def modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def is_shim(path: pathlib.Path) -> bool:
    text = path.read_text()
    return "_moved.alias(__name__" in text or text.startswith('"""Deprecated path of')


def import_statements(module: str, path: pathlib.Path):
    """``(node, in_function, [candidate targets])`` of every import of a ``tvm_loihi`` module."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] == "tvm_loihi":
                    yield child, inside, [(target, a.name) for a in child.names]
            elif isinstance(child, ast.Import):
                names = [(a.name, None) for a in child.names if a.name.split(".")[0] == "tvm_loihi"]
                if names:
                    yield child, inside, names
            yield from walk(child, inside)

    yield from walk(tree, False)


def graph(mods: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for _, _, targets in import_statements(module, path):
            for target, name in targets:
                full = f"{target}.{name}" if name else target
                dest = full if full in mods else target
                if dest in mods and dest != module:
                    edges[module].add(dest)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def function_level(mods: dict[str, pathlib.Path]) -> Counter:
    per_module: Counter = Counter()
    for module, path in mods.items():
        for _, inside, _ in import_statements(module, path):
            if inside:
                per_module[module] += 1
    return per_module


def limit_readers(mods: dict[str, pathlib.Path]) -> Counter:
    """Per module (``model.hardware``, where the limits are defined, left out): reads of a
    per-core limit (``.limits``, a ``CoreLimits`` field as an attribute or a string)."""
    per_module: Counter = Counter()
    for module, path in mods.items():
        if module == "tvm_loihi.model.hardware":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in (*LIMIT_FIELDS, "limits")) or (
                isinstance(node, ast.Constant) and node.value in LIMIT_FIELDS
            ):
                per_module[module] += 1
    return per_module


_PROBE = (
    "import sys, time\n"
    "t = time.perf_counter()\n"
    "import tvm_loihi\n"
    "a = time.perf_counter() - t\n"
    "n = sum(m == 'tvm_loihi' or m.startswith('tvm_loihi.') for m in sys.modules)\n"
    "t = time.perf_counter()\n"
    "import tvm\n"
    "b = time.perf_counter() - t\n"
    "m = sum(m == 'tvm_loihi' or m.startswith('tvm_loihi.') for m in sys.modules)\n"
    "print(a, a + b, n, m)\n"
)


def import_probe(runs: int) -> dict:
    rows = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, cwd=ROOT
        )
        a, ab, n, m = out.stdout.split()
        rows.append((float(a), float(ab), int(n), int(m)))
    alone, with_tvm = [r[0] for r in rows], [r[1] for r in rows]
    return {
        "runs": runs,
        "modules_after_import_tvm_loihi": sorted({r[2] for r in rows}),
        "modules_after_import_tvm": sorted({r[3] for r in rows}),
        "import_tvm_loihi_s": {
            "median": statistics.median(alone),
            "min": min(alone),
            "max": max(alone),
        },
        "import_tvm_loihi_and_tvm_s": {
            "median": statistics.median(with_tvm),
            "min": min(with_tvm),
            "max": max(with_tvm),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh interpreters for the import times")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    mods = {m: p for m, p in modules().items() if not is_shim(p)}
    found = cycles(graph(mods))
    inside = function_level(mods)
    by_unit: Counter = Counter()
    for module, n in inside.items():
        parts = module.split(".")
        by_unit[parts[1] if len(parts) > 1 else parts[0]] += n
    limits = limit_readers(mods)
    probe = import_probe(args.runs)
    print(f"modules parsed: {len(mods)} (deprecated alias modules left out)")
    print(f"import cycles (function-level imports included): {len(found)}")
    for comp in found:
        print("  " + " <-> ".join(comp))
    print(f"intra-package imports inside functions: {sum(inside.values())}")
    print("  by unit: " + ", ".join(f"{u} {n}" for u, n in by_unit.most_common()))
    print("  by module: " + ", ".join(f"{m} {n}" for m, n in inside.most_common(8)) + ", ...")
    print(
        f"modules loaded by `import tvm_loihi`: {probe['modules_after_import_tvm_loihi']}; "
        f"after `import tvm` too: {probe['modules_after_import_tvm']}"
    )
    t, tt = probe["import_tvm_loihi_s"], probe["import_tvm_loihi_and_tvm_s"]
    print(
        f"time of `import tvm_loihi`: median {t['median'] * 1e3:.1f} ms over {args.runs} fresh "
        f"processes ({t['min'] * 1e3:.1f}-{t['max'] * 1e3:.1f} ms)"
    )
    print(
        f"time of `import tvm_loihi, tvm`: median {tt['median']:.2f} s "
        f"({tt['min']:.2f}-{tt['max']:.2f} s)"
    )
    print(
        "reads of a per-core limit (.limits or a CoreLimits field), by module: "
        + ", ".join(f"{m} {n}" for m, n in sorted(limits.items()))
    )
    if args.json:
        figures = {
            "cycles": found,
            "function_level_imports": sum(inside.values()),
            "function_level_by_unit": dict(by_unit),
            "function_level_by_module": dict(inside),
            "limit_reads_by_module": dict(limits),
            **probe,
        }
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
