"""bench/alloc/py_churn.py - a whole real program under LD_PRELOAD: CPython with
PYTHONMALLOC=malloc, so every object allocation is a malloc/free call.

Builds and drops dicts, lists, tuples, strings and small instances the way
an interpreter-heavy service does (parse records, index them, aggregate,
discard), and prints compare's result line: milliseconds, lower is better.
Run: compare -- /usr/bin/env PYTHONMALLOC=malloc python3 bench/py_churn.py
"""
import sys
import time


class Record:
    __slots__ = ("key", "name", "values")

    def __init__(self, key, name, values):
        self.key = key
        self.name = name
        self.values = values


def one_round(n):
    records = [Record(i, "name-%d" % (i * 7919 % n), [i, i * 2, i * 3]) for i in range(n)]
    index = {r.name: r for r in records}
    groups = {}
    for r in records:
        groups.setdefault(r.key % 97, []).append((r.name, sum(r.values)))
    text = ",".join(sorted(index)[: n // 10])
    return len(groups) + len(text)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    start = time.perf_counter()
    check = 0
    for _ in range(rounds):
        check += one_round(20000)
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    print("py_churn: %d rounds, check %d" % (rounds, check))
    print("bench-result %.1f ms lower" % elapsed_ms)


if __name__ == "__main__":
    main()
