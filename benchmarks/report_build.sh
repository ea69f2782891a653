#!/usr/bin/env bash
# Build time of an example audit from an empty analysis cache (cold) and again from the filled one (warm),
# with the PDF's size and page count. Only the demo models are shared with the normal cache (symlinked), so
# "cold" recomputes every embedding, projection, attack and game.
#   bash benchmarks/report_build.sh [SPEC] [RUNS_WARM]
# Appends one JSON line per run to benchmarks/results/report_build.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
SPEC=${1:-reports/specs/audit-bbc-full.yaml}
WARM_RUNS=${2:-3}
SRC=${BACKBONE_LENS_CACHE:-$HOME/.cache/backbone-lens}
COLD=$(mktemp -d /tmp/bl-cold-XXXX)
ln -s "$SRC/demo" "$COLD/demo"
[ -d "$SRC/data" ] && ln -s "$SRC/data" "$COLD/data"
OUT=$(mktemp -d /tmp/bl-report-XXXX)
run() {  # $1 = label
  local t0 t1 rc
  t0=$(date +%s.%N)
  set +e
  BACKBONE_LENS_CACHE="$COLD" PYTHONPATH=. .venv/bin/python -m reports build "$SPEC" --out "$OUT/$1" --quiet > "$OUT/$1.log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s.%N)
  local pages size
  pages=$(pdfinfo "$OUT/$1/report.pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')
  size=$(stat -c %s "$OUT/$1/report.pdf" 2>/dev/null || echo 0)
  printf '{"spec": "%s", "run": "%s", "seconds": %.1f, "exit": %d, "pdf_pages": %s, "pdf_bytes": %s, "html_bytes": %s}\n' \
    "$SPEC" "$1" "$(echo "$t1 - $t0" | bc)" "$rc" "${pages:-0}" "$size" "$(stat -c %s "$OUT/$1/report.html" 2>/dev/null || echo 0)" \
    | tee -a benchmarks/results/report_build.jsonl
}
run cold
for i in $(seq 1 "$WARM_RUNS"); do run "warm$i"; done
echo "output in $OUT (cold cache $COLD)"
