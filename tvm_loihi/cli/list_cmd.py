"""``tvm-loihi list [SECTION] [--json]``: what the names on the command line can be.

Hardware presets (and the target tag that selects each), reference workloads, search strategies and
measurement backends, read from the registries themselves so the listing cannot drift from them.
Reads only :mod:`tvm_loihi.model`, :mod:`tvm_loihi.search` and :mod:`tvm_loihi.constants` (no
compiler code, no model loading).
"""

from __future__ import annotations

import json
import re

from ..constants import DEVICE_KEY, MEASURE_FIDELITIES, TAG_PRESETS

SECTIONS = ("presets", "tags", "workloads", "strategies", "backends")

_FIDELITY_TEXT = {
    "fast": "max-affine model per core and link (default; what the search uses)",
    "event": "event-level NoC model (slower; use for --verify)",
    "standin": "silicon STAND-IN, not silicon: event model with hidden constants and noise "
    "(rpc:// hosts started with `serve --backend standin`)",
}
_RUNNER_TEXT = (
    ("local", "the simulator in this process (default)"),
    (
        "rpc://HOST:PORT/KEY",
        f"measurement hosts behind a TVM RPC tracker (KEY defaults to {DEVICE_KEY}; "
        "`tvm-loihi tracker`, `tvm-loihi serve`)",
    ),
)
_RUN_BACKENDS = (
    ("reference", "bit-exact numpy reference (`run --backend`, default)"),
    ("lava", "Lava's Loihi 2 simulator (`run --backend lava`)"),
)


def _first_doc_line(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    if not doc or cls.__doc__ == getattr(cls.__mro__[1], "__doc__", None):
        return ""
    # The summary may wrap over several lines; it ends at the first blank line.
    text = " ".join(doc.split("\n\n", 1)[0].split())
    # Sphinx roles read as plain names: :func:`~a.b.name` -> name().
    return re.sub(r":\w+:`~?(?:[\w.]*\.)?(\w+)`", r"\1", text)


def collect() -> dict:
    """Every section as JSON-ready data (lists of dicts, one per entry)."""
    from ..model.hardware import PRESETS
    from ..model.workloads import WORKLOADS
    from ..search import get_strategy, strategy_names
    from ..tuning import surrogate  # noqa: F401  (registers "surrogate")

    tags_of: dict[str, list[str]] = {}
    for tag, preset in TAG_PRESETS.items():
        tags_of.setdefault(preset, []).append(tag)
    return {
        "presets": [
            {
                "name": name,
                "chips": spec.n_chips,
                "cores": spec.n_cores,
                "cores_per_chip": spec.cores_per_chip,
                "target_tags": tags_of.get(name, []),
            }
            for name, spec in PRESETS.items()
        ],
        "tags": [{"tag": tag, "preset": preset} for tag, preset in TAG_PRESETS.items()],
        "workloads": [
            {
                "name": name,
                "widths": list(spec.widths),
                "layers": len(spec.widths) - 1,
                "neurons": sum(spec.widths[1:]),
                "sparsity": spec.sparsity,
                "hardware": spec.hardware,
            }
            for name, spec in WORKLOADS.items()
        ],
        "strategies": [
            {"name": name, "description": _first_doc_line(get_strategy(name))}
            for name in strategy_names()
        ],
        "backends": {
            "fidelities": [
                {"name": f, "description": _FIDELITY_TEXT.get(f, "")} for f in MEASURE_FIDELITIES
            ],
            "runners": [{"name": n, "description": d} for n, d in _RUNNER_TEXT],
            "run_backends": [{"name": n, "description": d} for n, d in _RUN_BACKENDS],
        },
    }


def _table(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _render(section: str, data: dict) -> list[str]:
    if section == "presets":
        rows = [("name", "chips", "cores", "target tag")]
        rows += [
            (p["name"], str(p["chips"]), str(p["cores"]), ", ".join(p["target_tags"]) or "-")
            for p in data["presets"]
        ]
        return ["hardware presets (--hardware NAME, LoihiConfig(hardware=NAME)):", *_table(rows)]
    if section == "tags":
        rows = [("tag", "preset")] + [(t["tag"], t["preset"]) for t in data["tags"]]
        return [
            'target tags (tvm.compile(mod, target="TAG"); each selects a preset):',
            *_table(rows),
        ]
    if section == "workloads":
        rows = [("name", "layer sizes", "sparsity", "preset")]
        rows += [
            (w["name"], "-".join(map(str, w["widths"])), f"{w['sparsity']:.0%}", w["hardware"])
            for w in data["workloads"]
        ]
        return ["reference workloads (--workload NAME):", *_table(rows)]
    if section == "strategies":
        rows = [("name", "description")]
        rows += [(s["name"], s["description"] or "-") for s in data["strategies"]]
        return ["search strategies (--strategy NAME[,NAME...]):", *_table(rows)]
    b = data["backends"]
    return [
        "measurement fidelities (--fidelity, --verify):",
        *_table([(f["name"], f["description"]) for f in b["fidelities"]]),
        "measurement runners (--runner):",
        *_table([(r["name"], r["description"]) for r in b["runners"]]),
        "execution backends of a compiled model (run --backend):",
        *_table([(r["name"], r["description"]) for r in b["run_backends"]]),
    ]


def cmd_list(args) -> int:
    """Print one section (``args.section``) or all of them, as aligned text or ``--json``."""
    data = collect()
    sections = [args.section] if args.section else list(SECTIONS)
    if args.json:
        payload = {s: data[s] for s in sections}
        print(json.dumps(payload[args.section] if args.section else payload, indent=2))
        return 0
    blocks = ["\n".join(_render(s, data)) for s in sections]
    print("\n\n".join(blocks))
    return 0
