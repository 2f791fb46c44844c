#!/usr/bin/env bash
# Create .venv with CPython 3.10 and install tvm_loihi with every pin in ONE pip command.
# CPython 3.10 is required (lava-nc 0.10.0). On these machines it lives under pyenv, not on PATH.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

find_python310() {
    local candidates=()
    [ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
    command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    if command -v pyenv >/dev/null 2>&1; then pyenv_root="$(pyenv root)"; fi
    for d in "$pyenv_root"/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
        [ -x "$d" ] && candidates+=("$d")
    done
    for c in "${candidates[@]}"; do
        if "$c" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    py="$(find_python310)" || {
        echo "error: CPython 3.10 not found (lava-nc 0.10 needs exactly 3.10)." >&2
        echo "       Looked on PATH, under \$(pyenv root)/versions/3.10*, /usr/bin and /usr/local/bin." >&2
        echo "       Install it (e.g. 'pyenv install 3.10') or set PYTHON310=/path/to/python3.10." >&2
        exit 1
    }
    echo "[setup] using $py"
    rm -rf .venv
    "$py" -m venv .venv
fi

stamp=.venv/.tvm_loihi-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # One command: the resolver sees every pin at once (see pyproject.toml).
    .venv/bin/python -m pip install --quiet -e ".[test]"
    echo "$want" > "$stamp"
fi
echo "[setup] .venv ready: $(.venv/bin/python -c 'import tvm, numpy, lava; print("tvm", tvm.__version__, "numpy", numpy.__version__)')"
