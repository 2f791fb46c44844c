"""Every ```python block in README.md and docs/*.md runs as written: each in its own interpreter
(a fresh namespace, nothing imported beforehand) with an empty temporary directory as the working
directory, so a block that uses a name or a file it does not make itself fails here (#15.6).

Shell blocks (```bash) are commands of the CLI, covered by tests/test_cli*.py."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
_FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks() -> list[tuple[str, str]]:
    """``(id, source)`` of every python block, ``id`` = ``file:line``."""
    blocks = []
    for path in DOCS:
        text = open(path, encoding="utf-8").read()
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{os.path.relpath(path, ROOT)}:{line}", match.group(1)))
    return blocks


BLOCKS = python_blocks()


def test_the_docs_have_python_blocks():
    files = {block_id.split(":")[0] for block_id, _ in BLOCKS}
    assert {"README.md", "docs/tvm.md", "docs/measurement.md", "docs/search.md"} <= files


@pytest.mark.parametrize("source", [s for _, s in BLOCKS], ids=[i for i, _ in BLOCKS])
def test_block_runs_as_written(source, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVM_LOIHI_")}
    proc = subprocess.run(
        [sys.executable, "-c", source],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
