# bench/runner/build_commit.sh - sourced by the compare_commits scripts:
# build_commit COMMIT builds COMMIT with the release preset in its own
# worktree, build/compare/COMMIT, made on first use and kept for the next
# comparison. Run from the top of the source tree. Returns 2 when the
# worktree cannot be made, 1 when the commit does not build.
build_commit() {
    local tree=build/compare/$1
    if [ ! -d "$tree" ]; then
        git worktree add --detach "$tree" "$1" >/dev/null || return 2
    fi
    (cd "$tree" && cmake --preset release >/dev/null && cmake --build --preset release >/dev/null) ||
        { echo "compare_commits: $1 does not build" >&2; return 1; }
}
