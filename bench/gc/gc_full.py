"""bench/gc/gc_full.py - CPython's side of bench/gc_full: a full gc.collect()
over N live instances that hold 2 references each, all reachable.

The graph is gc_full.c's: one list holds N nodes and node i refers to nodes
2i+1 and 2i+2 (--shape tree), i-1 and i+1 (ring), all mod N, or to two random
ones (random). Built with the
collector off, collected once untimed, then --runs timed gc.collect() calls.
Prints `bench-sample ns_per_object X` per run: the collection's time over
len(gc.get_objects()), every object the collector traverses. Standard
library only; run by bench/gc_full, or alone:
    python3 bench/gc_full.py --objects 1000000 --runs 5 --slots 1
"""
import argparse
import gc
import os
import platform
import random
import sys
import time

from gc_nodes import node_class


def build(n, cls, shape, seed):
    nodes = [cls() for _ in range(n)]
    if shape == "random":
        rng = random.Random(seed)
        for node in nodes:
            node.a = nodes[rng.randrange(n)]
            node.b = nodes[rng.randrange(n)]
    elif shape == "ring":
        for i, node in enumerate(nodes):
            node.a = nodes[i - 1]
            node.b = nodes[(i + 1) % n]
    else:
        for i, node in enumerate(nodes):
            node.a = nodes[(2 * i + 1) % n]
            node.b = nodes[(2 * i + 2) % n]
    return nodes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slots", type=int, default=0)
    parser.add_argument("--shape", choices=("tree", "ring", "random"), default="tree")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("bench-python", platform.python_version())
    gc.disable()
    nodes = build(args.objects, node_class(args.slots), args.shape, args.seed)
    gc.collect()
    tracked = len(gc.get_objects())
    print("bench-sample tracked", tracked)
    for _ in range(args.runs):
        t0 = time.perf_counter_ns()
        found = gc.collect()
        t1 = time.perf_counter_ns()
        if found != 0:
            sys.exit("gc_full.py: gc.collect() found %d unreachable objects, expected 0" % found)
        print("bench-sample ns_per_object %.4f" % ((t1 - t0) / tracked), flush=True)
    # Skip the interpreter's teardown, which would collect the whole graph
    # once more: seconds at 4M objects, and nothing measured.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
