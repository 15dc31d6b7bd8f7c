#!/usr/bin/env bash
# bench/debug/trace_overhead.sh - what allocation tracing costs: the same
# workloads untraced, sampled (one sample per 512 KiB, the default of
# jemalloc's and tcmalloc's profilers), and exact (every allocation, with
# no call stack and with one frame), against CPython's tracemalloc on
# CPython's versions of the workloads, all in one run, runs interleaved.
#
# Usage: bench/debug/trace_overhead.sh [build_dir] [runs]
#   build_dir  default build/release (run from the source tree's top)
#   runs       default 5
# Prints one markdown table: each benchmark's own figure (ns per operation
# or node, ms for py_churn; wall time, close to CPU time on a quiet
# machine but for the 2-thread rows; CPU time for the CPython loop),
# median and quartiles, the ratio to the same workload untraced and the
# difference.
# Takes about 10 minutes on the 2-core VM; keep the machine quiet.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd) || exit 2
[ $# -eq 0 ] && { cd "$here/../.." || exit 2; }
build=${1:-build/release}
runs=${2:-5}
lib=$build/librcgc-malloc.so
bin=$build/bench
for need in "$lib" "$bin/malloc_mix" "$bin/binary_trees" "$bin/gc_trees"; do
    [ -e "$need" ] || { echo "trace_overhead: $need not found; build the release preset" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "trace_overhead: python3 not found" >&2; exit 2; }
python=$(command -v python3)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Sampling is measured on runs ten times longer than exact tracing: its
# costs are per sample, and a sampled run also pays once for the tracer's
# tables and the sampling pools (about a millisecond of page faults),
# which a 30 ms run would count as a few percent.
mix_long="$bin/malloc_mix --live 10000 --ops 20000000"
mix="$bin/malloc_mix --live 10000 --ops 2000000"
trees_long="$bin/binary_trees --threads 1 --depth 18"
trees="$bin/binary_trees --threads 1 --depth 15"
trees2="$bin/binary_trees --threads 2 --depth 15"
gcbench_long="$bin/gc_trees --depth 16 --runs 1 --python none"
gcbench="$bin/gc_trees --depth 14 --runs 1 --python none"
sampled0="RCGC_TRACE=1 RCGC_TRACE_SAMPLE_KIB=512 RCGC_TRACE_FRAMES=0"
sampled1="RCGC_TRACE=1 RCGC_TRACE_SAMPLE_KIB=512 RCGC_TRACE_FRAMES=1"
exact0="RCGC_TRACE=1 RCGC_TRACE_FRAMES=0"
exact1="RCGC_TRACE=1 RCGC_TRACE_FRAMES=1"

# workload | tracing | command (run through env); each "off" row is the
# base of the rows after it.
configs=(
    "malloc_mix, 10 k live, 20 M ops (ns/op)|off|LD_PRELOAD=$lib $mix_long"
    "malloc_mix, 10 k live, 20 M ops (ns/op)|sampled, no frames|LD_PRELOAD=$lib $sampled0 $mix_long"
    "malloc_mix, 10 k live, 20 M ops (ns/op)|sampled, 1 frame|LD_PRELOAD=$lib $sampled1 $mix_long"
    "malloc_mix, 10 k live, 2 M ops (ns/op)|off|LD_PRELOAD=$lib $mix"
    "malloc_mix, 10 k live, 2 M ops (ns/op)|exact, no frames|LD_PRELOAD=$lib $exact0 $mix"
    "malloc_mix, 10 k live, 2 M ops (ns/op)|exact, 1 frame|LD_PRELOAD=$lib $exact1 $mix"
    "binary_trees, depth 18 (ns/node)|off|LD_PRELOAD=$lib $trees_long"
    "binary_trees, depth 18 (ns/node)|sampled, no frames|LD_PRELOAD=$lib $sampled0 $trees_long"
    "binary_trees, depth 18 (ns/node)|sampled, 1 frame|LD_PRELOAD=$lib $sampled1 $trees_long"
    "binary_trees, depth 15 (ns/node)|off|LD_PRELOAD=$lib $trees"
    "binary_trees, depth 15 (ns/node)|exact, no frames|LD_PRELOAD=$lib $exact0 $trees"
    "binary_trees, depth 15 (ns/node)|exact, 1 frame|LD_PRELOAD=$lib $exact1 $trees"
    "gc_trees: GCBench on rcgc objects, depth 16 (ns/node)|off|$gcbench_long"
    "gc_trees: GCBench on rcgc objects, depth 16 (ns/node)|sampled, no frames|$sampled0 $gcbench_long"
    "gc_trees: GCBench on rcgc objects, depth 16 (ns/node)|sampled, 1 frame|$sampled1 $gcbench_long"
    "gc_trees: GCBench on rcgc objects, depth 14 (ns/node)|off|$gcbench"
    "gc_trees: GCBench on rcgc objects, depth 14 (ns/node)|exact, no frames|$exact0 $gcbench"
    "gc_trees: GCBench on rcgc objects, depth 14 (ns/node)|exact, 1 frame|$exact1 $gcbench"
    "binary_trees, 2 threads, depth 15 (ns/node)|off|LD_PRELOAD=$lib $trees2"
    "binary_trees, 2 threads, depth 15 (ns/node)|exact, no frames|LD_PRELOAD=$lib $exact0 $trees2"
    "CPython: one allocation and free per iteration (ns/iteration)|off|$python bench/debug/py_alloc_loop.py"
    "CPython: one allocation and free per iteration (ns/iteration)|tracemalloc, 1 frame|$python -X tracemalloc=1 bench/debug/py_alloc_loop.py"
    "CPython: py_churn.py (ms)|off|$python bench/alloc/py_churn.py"
    "CPython: py_churn.py (ms)|tracemalloc, 1 frame|$python -X tracemalloc=1 bench/alloc/py_churn.py"
    "CPython: GCBench gc_trees.py, depth 14 (ns/node)|off|$python bench/gc/gc_trees.py --depth 14 --runs 1"
    "CPython: GCBench gc_trees.py, depth 14 (ns/node)|tracemalloc, 1 frame|$python -X tracemalloc=1 bench/gc/gc_trees.py --depth 14 --runs 1"
)

for _ in $(seq 1 "$runs"); do
    for i in "${!configs[@]}"; do
        IFS='|' read -r _ _ command <<<"${configs[$i]}"
        # shellcheck disable=SC2086 # the command is split on purpose
        env $command >"$out/stdout" 2>"$out/err" ||
            { echo "trace_overhead: failed: $command" >&2; cat "$out/err" >&2; exit 1; }
        figure=$(awk '/^bench-result /{print $2; exit} /^bench-sample ns_per_node /{print $3; exit}' \
            "$out/stdout")
        [ -n "$figure" ] || { echo "trace_overhead: no figure from: $command" >&2; exit 1; }
        echo "$figure" >>"$out/$i"
    done
done

# The median and quartiles of file $1, one number per line.
stats() {
    sort -n "$1" | awk '{v[NR] = $1} END {
        printf "%.1f %.1f %.1f", v[int((NR + 1) / 2)], v[int((NR + 3) / 4)], v[NR - int((NR - 1) / 4)] }'
}

# "added": the traced median less the untraced one, in the figure's unit;
# for malloc_mix (one free and one malloc per op) and the CPython loop
# (one allocation and one free per iteration) that is what tracing adds to
# each traced allocation with its free.
echo "| workload (figure) | tracing | median (p25-p75) | vs untraced | added |"
echo "| --- | --- | --- | --- | --- |"
base=""
for i in "${!configs[@]}"; do
    IFS='|' read -r name mode _ <<<"${configs[$i]}"
    read -r median p25 p75 <<<"$(stats "$out/$i")"
    [ "$mode" = off ] && base=$median
    ratio=$(awk -v m="$median" -v b="$base" 'BEGIN { printf "%.2fx", m / b }')
    added=$(awk -v m="$median" -v b="$base" 'BEGIN { printf "%+.1f", m - b }')
    echo "| $name | $mode | $median ($p25-$p75) | $ratio | $added |"
done
echo
echo "reproduce: bench/debug/trace_overhead.sh $build $runs"
