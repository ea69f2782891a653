#!/usr/bin/env bash
# End-to-end projection benchmark: sparse at n = 1k, 5k, 20k, 100k and the exact dense mode at 1k, one process
# each under /usr/bin/time -v. Results: benchmarks/results/projection_scale.jsonl (+ the time -v peak RSS).
#   bash benchmarks/projection_scale.sh [N ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=benchmarks/results/projection_scale.jsonl
: > "$OUT"
run() {  # args: label, then script args
  local label=$1; shift
  local tv; tv=$(mktemp)
  local line
  line=$(/usr/bin/time -v "$PY" benchmarks/projection_scale.py --json "$@" 2> "$tv" | tail -1)
  local rss; rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$tv")
  local wall; wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tv")
  echo "${line%\}}, \"label\": \"$label\", \"time_v_peak_rss_mb\": $rss, \"process_wall\": \"$wall\"}" | tee -a "$OUT"
  rm -f "$tv"
}
SIZES=${*:-"1000 5000 20000 100000"}
run exact-1000 --n 1000 --exact --repeats 3
for n in $SIZES; do
  reps=3; [ "$n" -gt 5000 ] && reps=1
  run "sparse-$n" --n "$n" --repeats "$reps"
done
