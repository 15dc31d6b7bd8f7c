#!/bin/sh
# bench/gc/gc_server_plot.sh - run bench/gc/gc_server and draw the
# distribution of every stop of the world each implementation made (rcgc
# stop-the-world and incremental, CPython, Boehm GC and its incremental
# mode), as docs/benchmarks.md shows it.
#
# Usage: bench/gc/gc_server_plot.sh [BUILD_DIR] [gc_server options...]
#        bench/gc/gc_server_plot.sh --chart-only [BUILD_DIR]  (redraw from the last run)
#   e.g. bench/gc/gc_server_plot.sh build/release --objects 4000000 --seconds 10
# Writes BUILD_DIR/bench-out/gc_server.md (the table) and gc_server.svg;
# the chart needs gnuplot (apt-get install gnuplot-nox).
set -eu
chart_only=false
if [ "${1:-}" = --chart-only ]; then
    chart_only=true
    shift
fi
build=${1:-build/release}
[ $# -gt 0 ] && shift
out="$build/bench-out"
mkdir -p "$out"
if ! $chart_only; then
    rm -f "$out"/gc_server_*.dat
    "$build/bench/gc_server" --pauses "$out" "$@" | tee "$out/gc_server.md"
fi
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "gc_server_plot: gnuplot not installed, no chart" >&2
    exit 0
fi
# The tail is what matters: plot the share of stops at or above each
# length (1 - the share below it), on a log scale, so the few long stops
# show. The first point's share is 1/n.
curves=
for key in rcgc rcgc-incremental cpython boehm boehm-incremental; do
    dat="$out/gc_server_$key.dat"
    [ -s "$dat" ] || continue
    awk '/^#/ { next } n == 0 { n = 1 / $2 } { print $1, 1 - $2 + 1 / n }' "$dat" >"$dat.tail"
    [ -n "$curves" ] && curves="$curves, "
    curves="$curves\"$dat.tail\" using 1:2 with steps lw 2 title \"$key\""
done
objects=$(sed -n 's/^bench\/gc_server: \([^ ]*\) live objects.*/\1/p' "$out/gc_server.md")
gnuplot <<GNUPLOT
set terminal svg size 900,480 dynamic font "sans,12" background rgb "white"
set output "$out/gc_server.svg"
set title "Every stop of the world, a server with $objects live objects" noenhanced
set logscale xy 10
set xlabel "stop (ms, log scale)"
set ylabel "share of stops this long or longer (log scale)"
set yrange [1e-4:1.2]
set grid
set key top right noenhanced
plot $curves
GNUPLOT
echo "chart: $out/gc_server.svg"
