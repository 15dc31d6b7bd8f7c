#!/usr/bin/env bash
# Real programs run unchanged under LD_PRELOAD=librcgc-malloc.so: each
# command's output must equal its output under glibc's malloc.
#   git: init, commit, log, gc, fsck
#   sqlite3: a 200k-row table, an index, aggregates
#   gcc: compile a generated 40k-line C file at -O2
#   python3: its own test suite for dict, list, set, json, re, unicode,
#            deque, gc and weakref with PYTHONMALLOC=malloc (when the
#            interpreter ships its test package)
set -euo pipefail
preload=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

run_both() { # name, then the command
    local name=$1
    shift
    "$@" >"$name.plain" 2>&1
    LD_PRELOAD=$preload "$@" >"$name.rcgc" 2>&1
    if ! diff -q "$name.plain" "$name.rcgc" >/dev/null; then
        echo "FAIL: $name differs under librcgc-malloc.so:"
        diff "$name.plain" "$name.rcgc" | head -20
        exit 1
    fi
    echo "ok: $name ($(wc -l <"$name.rcgc") lines of output identical)"
}

git_session() {
    rm -rf repo && git init -q repo && cd repo
    git config user.email ci@example.invalid && git config user.name ci
    for i in $(seq 1 60); do
        seq "$i" 400 >"file$((i % 13)).txt"
        git add -A && git commit -q -m "commit $i" --date="2026-01-01T00:00:$((i % 60))Z"
    done
    GIT_COMMITTER_DATE=2026-01-01T00:00:00Z git log --format='%s %T' | head -5
    git gc -q && git fsck --no-progress && git count-objects -v | grep -v size
}
export -f git_session
run_both git bash -c git_session

run_both sqlite3 sqlite3 :memory: "
    CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
    INSERT INTO t SELECT i, printf('name-%06d', i * 7919 % 200000), i * 0.5 FROM n;
    CREATE INDEX t_name ON t(name);
    SELECT count(*), sum(value), min(name), max(name) FROM t;
    SELECT name FROM t WHERE name LIKE 'name-1999%' ORDER BY name LIMIT 3;"

{
    for i in $(seq 1 4000); do
        printf 'static int f%d(int x) { int a[8]; for (int k = 0; k < 8; k++) a[k] = x * k + %d; ' "$i" "$i"
        printf 'return a[x & 7] ^ (x > %d ? f%d(x - 1) : 0); }\n' "$i" "$(( i > 1 ? i - 1 : 1 ))"
    done
    echo 'int main(void) { return f4000(3) & 1; }'
} >big.c
run_both gcc bash -c 'gcc -O2 -c big.c -o big.o && sha256sum <big.o'

if python3 -c 'import test.libregrtest' 2>/dev/null; then
    # The seed and timings differ from run to run; the verdict must not.
    run_both python3 bash -c 'PYTHONMALLOC=malloc python3 -m test test_dict test_list test_set \
        test_json test_re test_unicode test_deque test_gc test_weakref |
        grep -E "^(Total tests|Total test files|Result)"'
else
    echo "skipped: python3 has no test package (Debian: libpython3-testsuite)"
fi
