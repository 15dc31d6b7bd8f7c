"""bench/gc/gc_pause.py - CPython's side of bench/gc_pause: the pauses of
automatic collections while one thread makes cyclic garbage.

Builds gc_pause.c's long-lived graph (a list of N instances, node i referring
to nodes 2i+1 and 2i+2 mod N) with the collector on, collects once, then for
each of --runs loops makes and drops 2-node cycles for --seconds under the
default thresholds (700, 10, 10). A gc.callbacks entry times each collection
from its start to its stop with time.perf_counter_ns(); the GIL is held
throughout, so that time is both the pause and the elapsed time. Prints
`bench-sample pause<G> NS` per collection of generation G, and per loop
`bench-sample share PCT` (collections' time over the loop's wall time),
`bench-sample ns_per_cycle X` and `bench-sample seconds S`. Standard library
only; run by bench/gc_pause, or alone:
    python3 bench/gc_pause.py --objects 1000000 --runs 3 --seconds 2
"""
import argparse
import gc
import os
import platform
import sys
import time

from gc_nodes import collection_timer, node_class


def build(n, cls):
    nodes = [cls() for _ in range(n)]
    for i, node in enumerate(nodes):
        node.a = nodes[(2 * i + 1) % n]
        node.b = nodes[(2 * i + 2) % n]
    return nodes


def churn(cls, seconds):
    """Make and drop 2-node cycles; the clock is read every 256."""
    clock = time.perf_counter_ns
    t0 = clock()
    deadline = t0 + int(seconds * 1e9)
    cycles = 0
    while True:
        for _ in range(256):
            x = cls()
            y = cls()
            x.a = y
            y.a = x
        cycles += 256
        now = clock()
        if now >= deadline:
            return now - t0, cycles


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--slots", type=int, default=0)
    args = parser.parse_args()
    print("bench-python", platform.python_version())
    cls = node_class(args.slots)
    gc.set_threshold(700, 10, 10)
    gc.enable()
    keep = build(args.objects, cls) if args.objects > 0 else []
    gc.collect()

    on_collection, durations = collection_timer()
    gc.callbacks.append(on_collection)
    for _ in range(args.runs):
        for d in durations:
            d.clear()
        wall, cycles = churn(cls, args.seconds)
        collected = sum(sum(d) for d in durations)
        for g, d in enumerate(durations):
            sys.stdout.write("".join("bench-sample pause%d %d\n" % (g, ns) for ns in d))
        print("bench-sample share %.4f" % (100.0 * collected / wall))
        print("bench-sample ns_per_cycle %.4f" % (wall / cycles))
        print("bench-sample seconds %.6f" % (wall / 1e9), flush=True)
    gc.callbacks.remove(on_collection)
    del keep
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
