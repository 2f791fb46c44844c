#!/usr/bin/env bash
# Set everything up (idempotent) and run the main job on the embedded default hardware (the simulator):
# tune the reference workload mlp_a (with its on-chip input population) on one Loihi 2 chip, print the
# Lava-default vs best table and figure paths.
# Extra arguments go to `tvm-loihi tune` (e.g. --budget 1000 --strategy bilevel,ga,random).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
cd "$here"
exec .venv/bin/tvm-loihi tune --workload mlp_a --hardware loihi2_1chip --input-layer chip --strategy bilevel --budget 300 \
    --verify event --log results/main/tune.jsonl --outdir results/main --json results/main/summary.json "$@"
