#!/usr/bin/env bash
# bench/alloc/run_alloc_suite.sh - run every allocator benchmark at the
# configurations docs/benchmarks.md reports, through compare, then print the
# geometric mean of each allocator's time ratios against mimalloc and, when
# gnuplot is installed, draw them as an SVG bar chart.
#
# Usage: bench/alloc/run_alloc_suite.sh [build_dir] [out_dir | chart.svg]
#   build_dir  default build/release (run from the source tree's top)
#   out_dir    default <build_dir>/bench-out; gets alloc_suite.txt (every
#              table), alloc_suite.csv (appended, one line per allocator
#              and benchmark) and alloc_suite.svg. A path ending in .svg
#              names the chart itself; the other files go beside it.
# Exit status: 0 when every allocator that ran gave results, 1 otherwise.
# Takes about 7 minutes on the 2-core CI machine; keep the machine quiet.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd) || exit 2
if [ $# -eq 0 ]; then
    # Relative paths from the top of the tree, so that the reproduce lines
    # in the tables paste into docs/benchmarks.md as they are.
    cd "$here/../.." || exit 2
fi
build=${1:-build/release}
out=${2:-$build/bench-out}
case $out in
*.svg) svg=$out out=$(dirname "$out") ;;
*) svg=$out/alloc_suite.svg ;;
esac
bin=$build/bench
csv=$out/alloc_suite.csv
tables=$out/alloc_suite.txt
dat=$out/alloc_suite.dat
if [ ! -x "$bin/compare" ]; then
    echo "run_alloc_suite: $bin/compare not found; build first:" >&2
    echo "    cmake --preset release && cmake --build --preset release" >&2
    exit 2
fi
mkdir -p "$out" || exit 2
: >"$tables"
# Lines of the CSV that earlier sessions left; only later ones are this run's.
csv_start=$(if [ -f "$csv" ]; then wc -l <"$csv"; else echo 0; fi)

status=0
# run RUNS BASELINE TITLE BENCH [ARGS...]: one table, appended to the CSV.
run() {
    local runs=$1 baseline=$2 title=$3 bench=$4
    shift 4
    "$bin/compare" --runs "$runs" --baseline "$baseline" --title "$title" --csv "$csv" \
        -- "$bin/$bench" "$@" | tee -a "$tables" || status=1
    echo | tee -a "$tables"
}

# Timing benchmarks. The text before a title's first comma labels the chart.
run 5 mimalloc "bench/malloc_mix: 10k live, 16-4096 B, 1 thread" malloc_mix --live 10000
run 5 mimalloc "bench/malloc_mix: 1M live, 16-4096 B, 1 thread" malloc_mix --live 1000000
run 5 mimalloc "bench/malloc_mix: wide 10k live, 16-8192 B, 1 thread" malloc_mix --mix wide --live 10000
run 5 mimalloc "bench/malloc_mix: wide 1M live, 16-8192 B, 1 thread" malloc_mix --mix wide --live 1000000
run 5 mimalloc "bench/alloc_burst: 10M x 32 B, all allocated then all freed, 1 thread" alloc_burst
run 5 mimalloc "bench/binary_trees: 1 thread, depth 18" binary_trees --threads 1
run 5 mimalloc "bench/binary_trees: 2 threads, depth 18" binary_trees --threads 2
run 5 mimalloc "bench/larson: 2 threads, 5000 slots, 16-1000 B, cross-thread frees" \
    larson --threads 2
run 5 mimalloc "bench/prodcons: 2+2 threads, 16-256 B, every free remote" \
    prodcons --producers 2 --consumers 2
# A whole real program: CPython with every object allocation through malloc.
if command -v python3 >/dev/null; then
    "$bin/compare" --runs 3 --baseline mimalloc --csv "$csv" \
        --title "bench/py_churn: CPython, PYTHONMALLOC=malloc, under LD_PRELOAD" \
        -- /usr/bin/env PYTHONMALLOC=malloc python3 "$here/py_churn.py" | tee -a "$tables" || status=1
    echo | tee -a "$tables"
fi
# Counts, not times: left out of the geometric mean. mimalloc shares no
# line at all, and a ratio against 0 says nothing, hence glibc as baseline.
run 3 glibc "bench/false_sharing: passive + active, 8-48 B, shared 64 B lines" false_sharing
run 3 mimalloc "bench/rss_after_free: 10M x 32 B, heap MiB kept 2 s after freeing all" \
    rss_after_free

# Geometric mean over this run's timing rows of median / mimalloc's median,
# and the chart's data: one row per benchmark, one column per allocator.
# The first CSV field is a quoted title that may hold commas; the rest has
# none (compare_report.c).
tail -n +"$((csv_start + 1))" "$csv" | awk -v dat="$dat" '
    /^benchmark,/ || /^"bench\/(false_sharing|rss_after_free)/ { next }
    {
        match($0, /^".*",/)
        title = substr($0, 2, RLENGTH - 3)
        split(substr($0, RLENGTH + 1), f, ",")
        if (!(title in seen)) { seen[title] = 1; order[++nb] = title }
        median[title, f[1]] = f[2]
    }
    END {
        # The columns: allocators with a result somewhere, baseline first.
        split("mimalloc rcgc glibc jemalloc tcmalloc", known, " ")
        for (i = 1; i <= 5; i++)
            for (b = 1; b <= nb; b++)
                if (median[order[b], known[i]] != "") { impls[++ni] = known[i]; break }
        header = "benchmark"
        for (i = 1; i <= ni; i++) header = header " " impls[i]
        print header > dat
        for (b = 1; b <= nb; b++) {
            t = order[b]
            label = t; sub(/^bench\//, "", label); sub(/,.*/, "", label); sub(/:/, "", label)
            line = "\"" label "\""
            base = median[t, "mimalloc"]
            for (i = 1; i <= ni; i++) {
                m = impls[i]; v = median[t, m]
                if (base == "" || base + 0 <= 0 || v == "") { line = line " ?"; continue }
                r = v / base; line = line " " r
                logsum[m] += log(r); n[m]++
            }
            print line > dat
        }
        printf "geometric mean of time ratios vs mimalloc over the timing benchmarks\n"
        printf "%-9s  %-8s  %s\n", "impl", "geomean", "benchmarks (lower = faster)"
        line = "\"geomean\""
        for (i = 1; i <= ni; i++) {
            m = impls[i]
            if (n[m] == 0) { line = line " ?"; continue }
            g = exp(logsum[m] / n[m])
            printf "%-9s  %-8s  %d of %d\n", m, sprintf("%.2fx", g), n[m], nb
            line = line " " g
        }
        print line > dat
    }' | tee -a "$tables"

if command -v gnuplot >/dev/null 2>&1; then
    commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
    columns=$(head -n 1 "$dat" | wc -w)
    gnuplot <<EOF || status=1
set terminal svg size 960,480 dynamic font "sans,12" background rgb "white"
set output "$svg"
set title "Allocator time vs mimalloc (lower = faster), median of 5, commit $commit" noenhanced
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set ylabel "median time / mimalloc's"
set yrange [0:*]
set grid ytics
set key outside right top noenhanced
set xtics nomirror rotate by -25 left noenhanced
set bmargin 6
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2
plot for [i=2:$columns] "$dat" using i:xtic(1) title columnheader(i)
EOF
    echo "chart: $svg"
else
    echo "run_alloc_suite: gnuplot not installed, no chart (apt-get install gnuplot-nox)" >&2
fi
echo "tables: $tables; csv: $csv"
exit $status
