#!/usr/bin/env bash
# Time the full demo build from scratch into a fresh cache folder; prints per-step seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
# Usage: benchmarks/demo_build.sh [CACHE_DIR]   (default: a temporary folder, removed afterwards)
keep=${1:-}
dir=${keep:-$(mktemp -d)}
mkdir -p "$dir"
BACKBONE_LENS_CACHE=$dir /usr/bin/time -v .venv/bin/python -m core demo build --force --json --quiet > "$dir/manifest.out" 2> "$dir/time.txt"
.venv/bin/python - "$dir" <<'PY'
import json, re, sys
d = sys.argv[1]
m = json.load(open(f"{d}/manifest.out"))
t = open(f"{d}/time.txt").read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
print(f"{'step':<20}{'seconds':>9}{'held-out acc':>14}{'n test':>8}")
for k, v in m["steps"].items():
    acc = v.get("heldout_accuracy")
    print(f"{k:<20}{v['seconds']:>9}{'' if acc is None else f'{acc:.3f}':>14}{v.get('heldout_n', ''):>8}")
print(f"total {m['last_build_seconds']} s, peak RSS {rss:.0f} MB")
mlm = m["steps"]["mlm-head"]
print(f"MLM head: masked top-1 {mlm['masked_top1']:.3f}, top-5 {mlm['masked_top5']:.3f}, unmasked top-1 {mlm['unmasked_top1']:.3f}")
PY
[ -n "$keep" ] || rm -rf "$dir"
