#!/usr/bin/env bash
# bench/gc/compare_commits.sh - the collector's pauses and scaling at two
# commits, side by side in one sitting.
#
# usage: bench/gc/compare_commits.sh BEFORE AFTER [ROUNDS] [OUT]
#
# Builds each commit with the release preset in its own worktree
# (build/compare/<commit>), then runs both alternately, ROUNDS times
# (default 3), so that a slow spell of the machine falls on both:
#   gc_pause --objects 1000000 --seconds 2 --runs 3 --python none
#   gc_scaling --iterations 100000 --runs 5
#   gc_trees --depth 16 --runs 3 --threads 2 --python none  (when the commit has --threads)
# Writes to OUT (default build/compare/out): each run's table (rounds.txt),
# the CSV of every run (compare.csv), the generation-0 pauses of every round
# pooled per commit (pause_<commit>.dat), and, with gnuplot, two charts:
# pause_before_after.svg (the distribution of young pauses) and
# scaling_before_after.svg (2-thread speed-ups, malloc/free and Boehm in
# the same runs). Measure on a quiet machine: nothing else building.
set -u
if [ $# -lt 2 ]; then
    sed -n '4,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
cd "$top" || exit 2
before=$(git rev-parse --short "$1") || exit 2
after=$(git rev-parse --short "$2") || exit 2
rounds=${3:-3}
out=${4:-build/compare/out}
mkdir -p "$out" || exit 2
: >"$out/rounds.txt"
: >"$out/compare.csv"

# shellcheck source=../runner/build_commit.sh
. bench/runner/build_commit.sh
for commit in "$before" "$after"; do
    build_commit "$commit" || exit
    : >"$out/pauses_$commit.raw"
done

# run COMMIT BENCH ARGS...: one table, labelled, into rounds.txt and the CSV.
run() {
    local commit=$1 bench=$2
    shift 2
    echo "== $commit: $bench $*" | tee -a "$out/rounds.txt"
    "build/compare/$commit/build/release/bench/$bench" --csv "$out/$commit.csv" "$@" |
        grep -v '^bench-result ' | tee -a "$out/rounds.txt"
}

for round in $(seq 1 "$rounds"); do
    for commit in "$before" "$after"; do
        echo "compare_commits: round $round, $commit" >&2
        dump=$out/dump_${commit}_$round
        run "$commit" gc_pause --objects 1000000 --seconds 2 --runs 3 --python none --dump "$dump"
        # The dump holds at most 1000 ranks per round: pooled, each round
        # weighs the same.
        grep -v '^#' "$dump/gc_pause_rcgc.dat" | awk '{print $1}' >>"$out/pauses_$commit.raw"
        run "$commit" gc_scaling --iterations 100000 --runs 5
        if grep -q -- '"--threads"' "build/compare/$commit/bench/gc/gc_trees.c"; then
            run "$commit" gc_trees --depth 16 --runs 3 --threads 2 --python none
        fi
    done
done

# The pooled pauses as a distribution: "us fraction" lines.
for commit in "$before" "$after"; do
    sort -g "$out/pauses_$commit.raw" |
        awk '{v[NR] = $1} END {for (i = 1; i <= NR; i++) print v[i], i / NR}' >"$out/pause_$commit.dat"
    cat "$out/$commit.csv" >>"$out/compare.csv"
done

# Speed-ups per commit: the median over rounds of each run's median.
speedups=$out/speedups.dat
{
    echo "what \"malloc/free $before\" \"Boehm $before\" \"rcgc $before\" \"malloc/free $after\" \"Boehm $after\" \"rcgc $after\""
    for bench in "gc_scaling: speed-up" "gc_trees: speed-up"; do
        line="\"${bench%%:*}\""
        for commit in "$before" "$after"; do
            for impl in "glibc malloc/free" "Boehm" "rcgc"; do
                # CSV lines: "benchmark","impl",median,...
                v=$(grep -F "\"bench/$bench" "$out/$commit.csv" |
                    sed -E 's/^"[^"]*","([^"]*)",([^,]*),.*/\1|\2/' |
                    awk -F'|' -v impl="$impl" '$1 == impl || index($1, impl " ") == 1 && impl == "Boehm" {print $2}' |
                    sort -g |
                    awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "?"}')
                line="$line $v"
            done
        done
        echo "$line"
    done
} >"$speedups"
cat "$speedups"

if command -v gnuplot >/dev/null 2>&1; then
    gnuplot <<EOF
set terminal svg size 800,450 dynamic font "sans,12" background rgb "white"
set output "$out/pause_before_after.svg"
set title "Generation-0 pauses, 1M long-lived objects, 2-node cyclic garbage ($rounds rounds each)" noenhanced
set logscale x 10
set xlabel "pause, stop request to restart (us, log scale)"
set ylabel "fraction of collections at or below"
set yrange [0:1.02]
set grid
set key bottom right noenhanced
plot "$out/pause_$before.dat" using 1:2 with steps lw 2 title "$before (before)", \
     "$out/pause_$after.dat" using 1:2 with steps lw 2 title "$after (after)"
EOF
    gnuplot <<EOF
set terminal svg size 900,450 dynamic font "sans,12" background rgb "white"
set output "$out/scaling_before_after.svg"
set title "Speed-up of 2 threads over 1 (higher = better; 2 = perfect), median of $rounds rounds" noenhanced
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set yrange [0:2.2]
set grid ytics
set xtics noenhanced
set key outside right top noenhanced
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2
plot for [i=2:7] "$speedups" using i:xtic(1) title columnheader(i)
EOF
    echo "charts: $out/pause_before_after.svg $out/scaling_before_after.svg"
fi
echo "tables: $out/rounds.txt; csv: $out/compare.csv"
