#!/usr/bin/env bash
# Leak tools on a program that was never built for them: under
# LD_PRELOAD=librcgc-malloc.so, RCGC_TRACE=1 prints the allocation sites
# still live at exit, and RCGC_REPORT=path (with %p for the pid) writes a
# report whose every line is complete, with samples and an exit record;
# tools/report-plot draws it when gnuplot is there.
#
#   tests/check_preload_report.sh librcgc-malloc.so source-dir
set -euo pipefail
lib=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# sort reads all its input before writing: its buffers are live at exit.
seq 1 200000 >"$work/input"
RCGC_TRACE=1 RCGC_REPORT="$work/report.%p.jsonl" RCGC_REPORT_INTERVAL_MS=5 \
    LD_PRELOAD="$lib" sort -n "$work/input" >"$work/sorted" 2>"$work/stderr"
cmp -s "$work/sorted" "$work/input" || { echo "sort under the tracer gave other output"; exit 1; }
grep -q '^rcgc: traced memory at exit [0-9]* B (peak [0-9]* B); top sites still live:$' \
    "$work/stderr" || { echo "no live-sites report:"; cat "$work/stderr"; exit 1; }
sites=$(grep -c ': size=.*, count=[0-9]*, average=' "$work/stderr")
[ "$sites" -ge 1 ] && [ "$sites" -le 10 ] || { echo "expected 1-10 sites, got $sites"; exit 1; }

reports=("$work"/report.*.jsonl)
[ ${#reports[@]} -eq 1 ] || { echo "expected one report, got ${#reports[@]}"; exit 1; }
report=${reports[0]}
head -1 "$report" | grep -q '^{"kind":"start","pid":[0-9]*,"program":".*sort"' ||
    { echo "bad start line"; head -1 "$report"; exit 1; }
tail -1 "$report" | grep -q '^{"kind":"exit",.*"allocation_sites":\[{"site":' ||
    { echo "bad exit line"; tail -1 "$report"; exit 1; }
bad=$(grep -vc '^{"kind":"[a-z]*",.*}$' "$report" || true)
[ "$bad" -eq 0 ] || { echo "$bad malformed lines"; exit 1; }

if command -v gnuplot >/dev/null && grep -q '"kind":"sample"' "$report"; then
    "$source_dir/tools/report-plot" "$report" "$work/plot.svg" >/dev/null
    grep -q '<svg' "$work/plot.svg" || { echo "report-plot made no SVG"; exit 1; }
fi
echo "ok: $sites live sites at exit, $(wc -l <"$report") report lines"
