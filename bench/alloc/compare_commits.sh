#!/usr/bin/env bash
# bench/alloc/compare_commits.sh - the allocator at two commits and
# mimalloc, side by side in one sitting.
#
# usage: bench/alloc/compare_commits.sh BEFORE AFTER [RUNS]
#
# Builds each commit with the release preset in its own worktree
# (build/compare/<commit>), then runs the benchmarks below with this tree's
# binaries, preloading BEFORE's librcgc-malloc.so, AFTER's and mimalloc
# one after the other, RUNS times (default 7), so that a slow spell of the
# machine falls on all three. Prints, per benchmark and allocator, the
# median result with its range, and the median CPU seconds (user + sys)
# with its range: on a shared or noisy machine CPU time is the steadier
# figure. Measure on a quiet machine: nothing else building.
set -u
if [ $# -lt 2 ]; then
    sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
cd "$top" || exit 2
before=$(git rev-parse --short "$1") || exit 2
after=$(git rev-parse --short "$2") || exit 2
runs=${3:-7}
bin=build/release/bench
mimalloc=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
if [ ! -x "$bin/malloc_mix" ] || [ ! -e "$mimalloc" ] || [ ! -x /usr/bin/time ]; then
    echo "compare_commits: needs $bin (cmake --build --preset release), mimalloc and" \
        "/usr/bin/time (tools/install-deps --bench)" >&2
    exit 2
fi

# shellcheck source=../runner/build_commit.sh
. bench/runner/build_commit.sh
for commit in "$before" "$after"; do
    build_commit "$commit" || exit
done
names=("$before" "$after" mimalloc)
libs=("build/compare/$before/build/release/librcgc-malloc.so"
    "build/compare/$after/build/release/librcgc-malloc.so" "$mimalloc")

# median_range "v1 v2 ...": the median and the range, "m (lo-hi)".
median_range() {
    tr ' ' '\n' <<<"$1" | grep . | sort -g |
        awk '{v[NR] = $1} END { printf "%.3g (%.3g-%.3g)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

echo "median (range) of $runs runs; cpu: user + sys seconds of the whole process"
while IFS='|' read -r label args; do
    declare -A result=() cpu=()
    for ((r = 0; r < runs; r++)); do
        for i in 0 1 2; do
            # shellcheck disable=SC2086 # args holds several words on purpose
            out=$({ LD_PRELOAD=${libs[$i]} /usr/bin/time -f 'cpu %U %S' $bin/$args; } 2>&1)
            result[$i]+="$(awk '/^bench-result/ { print $2 }' <<<"$out") "
            cpu[$i]+="$(awk '/^cpu/ { print $2 + $3 }' <<<"$out") "
        done
    done
    printf '%-10s' "$label"
    for i in 0 1 2; do
        printf ' | %s %s cpu %s' "${names[$i]}" "$(median_range "${result[$i]}")" \
            "$(median_range "${cpu[$i]}")"
    done
    echo
done <<'LIST'
mix 10k|malloc_mix --live 10000
mix 1M|malloc_mix --live 1000000
wide 10k|malloc_mix --mix wide --live 10000
wide 1M|malloc_mix --mix wide --live 1000000
burst|alloc_burst
trees 1t|binary_trees --threads 1
trees 2t|binary_trees --threads 2
LIST
