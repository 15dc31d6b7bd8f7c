#!/usr/bin/env bash
# bench/gc/run_gc_suite.sh - run every collector benchmark at the
# configurations docs/benchmarks.md reports, then summarize them in
# Markdown (each implementation's median, rcgc's ratios, the targets of
# the collector met or missed) and, when gnuplot is installed, draw two charts:
# time against CPython per benchmark, and the distribution of young pauses.
#
# Usage: bench/gc/run_gc_suite.sh [build_dir] [out_dir]
#   build_dir  default build/release (run from the source tree's top)
#   out_dir    default <build_dir>/bench-out; gets gc_suite.txt (every
#              table), gc_suite.csv (appended; compare's columns),
#              gc_suite.md (the summary), gc_suite.svg and gc_pause.svg
#              (the charts), gc_pause_{rcgc,cpython}.dat (the pauses drawn).
# Exit status: 0 when every benchmark ran, 1 otherwise.
# Takes about 1.5 minutes on the 2-core CI machine; keep the machine quiet.
# RCGC_BENCH_QUICK=1 runs every step at toy sizes in seconds: a smoke test
# of the binaries and this script, its numbers meaningless.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd) || exit 2
if [ $# -eq 0 ]; then
    # Relative paths from the top of the tree, so that the reproduce lines
    # in the tables paste into docs/benchmarks.md as they are.
    cd "$here/../.." || exit 2
fi
build=${1:-build/release}
out=${2:-$build/bench-out}
bin=$build/bench
csv=$out/gc_suite.csv
tables=$out/gc_suite.txt
summary=$out/gc_suite.md
dat=$out/gc_suite.dat
for b in gc_full gc_cycles gc_pause gc_trees gc_scaling; do
    if [ ! -x "$bin/$b" ]; then
        echo "run_gc_suite: $bin/$b not found; build first:" >&2
        echo "    cmake --preset release && cmake --build --preset release" >&2
        exit 2
    fi
done
mkdir -p "$out" || exit 2
: >"$tables"
# Lines of the CSV that earlier sessions left; only later ones are this run's.
csv_start=$(if [ -f "$csv" ]; then wc -l <"$csv"; else echo 0; fi)

status=0
# run BENCH [ARGS...]: one table, appended to the text file and the CSV.
run() {
    local bench=$1
    shift
    echo "run_gc_suite: $bench $*" >&2
    "$bin/$bench" --csv "$csv" "$@" | grep -v '^bench-result ' | tee -a "$tables" || status=1
    echo | tee -a "$tables"
}

if [ "${RCGC_BENCH_QUICK:-0}" = 1 ]; then
    M=10000 M4=40000 seconds=1 depth=10 iterations=1000 runs=2
else
    M=1000000 M4=4000000 seconds=2 depth=16 iterations=100000 runs=5
fi
run gc_full --objects $M --shape tree --runs $runs
run gc_full --objects $M --shape ring --runs $runs
run gc_full --objects $M --shape random --runs $runs
run gc_full --objects $M4 --shape tree --runs $runs
run gc_full --objects $M4 --shape ring --runs $runs
run gc_cycles --objects $M --runs $runs
run gc_cycles --objects $M --runs $runs --shape chains
run gc_pause --objects $M --seconds $seconds --runs 3 --dump "$out"
run gc_trees --depth $depth --runs $runs --py-runs 3
run gc_trees --depth $depth --runs $runs --threads 2
run gc_scaling --iterations $iterations --runs $runs

# The summary, from this run's CSV lines. Fields are quoted and may hold
# commas; csv() splits one line into f[1..n].
count() { # as gc_bench_format_count() writes it in titles
    if [ $(($1 % 1000000)) -eq 0 ]; then echo "$(($1 / 1000000))M"; else echo "$(($1 / 1000))k"; fi
}
tail -n +"$((csv_start + 1))" "$csv" | awk -v dat="$dat" -v m="$(count $M)" -v m4="$(count $M4)" -v depth="$depth" '
    function csv(line, f,    n, i, c, q, cell) {
        n = 0; cell = ""; q = 0
        for (i = 1; i <= length(line); i++) {
            c = substr(line, i, 1)
            if (q && c == "\"" && substr(line, i + 1, 1) == "\"") { cell = cell c; i++ }
            else if (c == "\"") q = !q
            else if (c == "," && !q) { f[++n] = cell; cell = "" }
            else cell = cell c
        }
        f[++n] = cell
        return n
    }
    # The column an implementation goes in.
    function column(impl) {
        if (impl ~ /^CPython.*__slots__/) return "CPython __slots__"
        if (impl ~ /^CPython/) return "CPython"
        if (impl ~ /^Boehm/) return "Boehm"
        if (impl ~ /^glibc/) return "malloc/free"
        if (impl ~ /collector off/) return "rcgc, collector off"
        return impl
    }
    function label(t,    l, shape) {
        l = t; sub(/^bench\//, "", l)
        if (l ~ /^gc_full/) {
            shape = l; sub(/.*each \(/, "", shape); sub(/[:)].*/, "", shape)
            sub(/ live.*/, "", l); sub(/:/, "", l)
            return l " " shape
        }
        if (l ~ /^gc_cycles.*chains/) return "gc_cycles chains"
        if (l ~ /^gc_pause: ns per cycle/) return "gc_pause ns/cycle"
        if (l ~ /^gc_pause/) { sub(/ \(.*/, "", l); sub(/.* /, "gc_pause ", l); return l }
        sub(/:.*/, "", l)
        return l
    }
    function fmt(v) {
        if (v == "") return "-"
        v += 0
        if (v >= 100 || v <= -100) return sprintf("%.0f", v)
        if (v >= 10 || v <= -10) return sprintf("%.1f", v)
        if (v >= 1 || v <= -1) return sprintf("%.2f", v)
        return sprintf("%.3g", v)
    }
    function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2fx", a / b) }
    function get(prefix, impl,    b) {
        for (b = 1; b <= nb; b++)
            if (index(order[b], prefix) == 1 && (order[b], impl) in median)
                return median[order[b], impl]
        return ""
    }
    function target(what, value, goal, op, unit,    ok) {
        if (value == "") { printf "| %s | not measured | %s %s%s | - |\n", what, op, goal, unit; return }
        ok = (op == "<=") ? (value + 0 <= goal + 0) : (value + 0 >= goal + 0)
        printf "| %s | %s%s | %s %s%s | %s |\n", what, fmt(value), unit, op, goal, unit, ok ? "yes" : "**no**"
    }
    /^benchmark,/ { next }
    {
        csv($0, f)
        t = f[1]; c = column(f[2])
        if (!(t in seen)) { seen[t] = 1; order[++nb] = t }
        median[t, c] = f[3]
        cols[c] = 1
    }
    END {
        ncol = split("CPython|CPython __slots__|Boehm|malloc/free|rcgc|rcgc, collector off", names, "|")
        printf "| benchmark |"
        for (i = 1; i <= ncol; i++) printf " %s |", names[i]
        printf " rcgc vs CPython | rcgc vs Boehm |\n|---|"
        for (i = 1; i <= ncol + 2; i++) printf "---|"
        printf "\n"
        for (b = 1; b <= nb; b++) {
            t = order[b]
            printf "| %s |", t
            for (i = 1; i <= ncol; i++) printf " %s |", fmt(median[t, names[i]])
            printf " %s | %s |\n", ratio(median[t, "rcgc"], median[t, "CPython"]),
                ratio(median[t, "rcgc"], median[t, "Boehm"])
        }
        printf "\nThe targets of the collector (goals, not assertions):\n\n"
        printf "| target | measured | goal | met? |\n|---|---|---|---|\n"
        full1 = "bench/gc_full: " m " live objects, 2 references each (tree"
        full4 = "bench/gc_full: " m4 " live objects, 2 references each (tree"
        target("full collection, " m " tree, rcgc ns/object", get(full1, "rcgc"), 25, "<=", " ns")
        r = get(full1, "CPython"); target("full collection, " m " tree, rcgc / CPython", r == "" ? "" : get(full1, "rcgc") / r, 0.33, "<=", "x")
        target("full collection, " m4 " tree, rcgc ns/object", get(full4, "rcgc"), 25, "<=", " ns")
        r = get(full4, "CPython"); target("full collection, " m4 " tree, rcgc / CPython", r == "" ? "" : get(full4, "rcgc") / r, 0.33, "<=", "x")
        target("garbage cycles, rcgc ns per freed object", get("bench/gc_cycles: " m " objects in rings", "rcgc"), 40, "<=", " ns")
        target("acyclic garbage freed by counts, rcgc ns per object", get("bench/gc_cycles: " m " objects in chains", "rcgc"), 25, "<=", " ns")
        target("young pauses, rcgc p99", get("bench/gc_pause: gen-0 pause p99", "rcgc"), 100, "<=", " us")
        target("young pauses, rcgc max (any generation)", get("bench/gc_pause: max pause", "rcgc"), 1000, "<=", " us")
        target("young pauses, rcgc collector share", get("bench/gc_pause: collector share", "rcgc"), 25, "<=", " %")
        trees = "bench/gc_trees: GCBench, long-lived depth " depth ", stretch " depth + 2
        r = get(trees, "Boehm"); target("GCBench, rcgc / Boehm", r == "" ? "" : get(trees, "rcgc") / r, 1.0, "<=", "x")
        target("scaling, gc_scaling, rcgc 2 threads / 1", get("bench/gc_scaling: speed-up", "rcgc"), 1.6, ">=", "x")
        target("scaling, GCBench split, rcgc 2 threads / 1", get("bench/gc_trees: speed-up", "rcgc"), 1.6, ">=", "x")

        # The chart: time / CPython time per benchmark where both ran.
        print "benchmark \"CPython __slots__\" Boehm rcgc" > dat
        for (b = 1; b <= nb; b++) {
            t = order[b]
            if (t !~ /gc_full|gc_cycles|gc_trees|gc_pause: gen-0 pause p|gc_pause: ns per/) continue
            base = median[t, "CPython"]
            if (base == "" || base + 0 <= 0) continue
            line = "\"" label(t) "\""
            split("CPython __slots__|Boehm|rcgc", impls, "|")
            for (i = 1; i <= 3; i++) {
                v = median[t, impls[i]]
                line = line " " (v == "" ? "?" : v / base)
            }
            print line > dat
        }
    }' | tee "$summary"

if command -v gnuplot >/dev/null 2>&1; then
    commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
    gnuplot <<EOF || status=1
set terminal svg size 1000,500 dynamic font "sans,12" background rgb "white"
set output "$out/gc_suite.svg"
set title "Collector benchmarks: time / CPython 3.11's time (lower = faster), commit $commit" noenhanced
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set logscale y 2
set yrange [0.01:2]
set ylabel "median time / CPython's (log scale)"
set grid ytics
set key outside right top noenhanced
set xtics nomirror rotate by -30 left noenhanced
set bmargin 7
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2
plot for [i=2:4] "$dat" using i:xtic(1) title columnheader(i)
EOF
    # CPython's curve only when it ran.
    cpython_curve=
    if [ -s "$out/gc_pause_cpython.dat" ]; then
        cpython_curve=", \"$out/gc_pause_cpython.dat\" using 1:2 with steps lw 2 title \"CPython (GIL held)\""
    fi
    if [ -s "$out/gc_pause_rcgc.dat" ]; then
        gnuplot <<EOF || status=1
set terminal svg size 800,450 dynamic font "sans,12" background rgb "white"
set output "$out/gc_pause.svg"
set title "Generation-0 pauses, 1M long-lived objects, 2-node cyclic garbage, commit $commit" noenhanced
set logscale x 10
set xlabel "pause (us, log scale)"
set ylabel "fraction of collections at or below"
set yrange [0:1.02]
set grid
set key bottom right noenhanced
plot "$out/gc_pause_rcgc.dat" using 1:2 with steps lw 2 title "rcgc (world stopped)"$cpython_curve
EOF
    fi
    echo "charts: $out/gc_suite.svg $out/gc_pause.svg"
else
    echo "run_gc_suite: gnuplot not installed, no charts (apt-get install gnuplot-nox)" >&2
fi
echo "tables: $tables; csv: $csv; summary: $summary"
exit $status
