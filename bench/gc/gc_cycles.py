"""bench/gc/gc_cycles.py - CPython's side of bench/gc_cycles: one gc.collect()
that finds and frees N instances in rings of 2 to 10, all garbage; or, with
--shape chains, dropping the one list that holds N instances in chains of
the same sizes, freed by their counts.

Ring sizes go 2, 3, ..., 10, 2, ... as in gc_cycles.c; each node refers to
the next and the previous one. Built with the collector off; one untimed
warm-up run, then --runs timed ones. Prints `bench-sample ns_per_object X`
per run: the collection's time over the objects it found, which must be
exactly N. Standard library only; run by bench/gc_cycles, or alone:
    python3 bench/gc_cycles.py --objects 1000000 --runs 5
"""
import argparse
import gc
import os
import platform
import sys
import time

from gc_nodes import node_class


def make_rings(n, cls, lo, hi):
    made = 0
    k = 0
    while made < n:
        size = min(lo + k % (hi - lo + 1), n - made)
        ring = [cls() for _ in range(size)]
        for j, node in enumerate(ring):
            node.a = ring[(j + 1) % size]
            node.b = ring[j - 1]
        made += size
        k += 1


def make_chains(n, cls, lo, hi):
    heads = []
    made = 0
    k = 0
    while made < n:
        size = min(lo + k % (hi - lo + 1), n - made)
        head = None
        for _ in range(size):
            node = cls()
            node.a = head
            head = node
        heads.append(head)
        made += size
        k += 1
    return heads


def one_chains_run(n, cls, lo, hi):
    heads = [make_chains(n, cls, lo, hi)]
    t0 = time.perf_counter_ns()
    heads.clear()
    t1 = time.perf_counter_ns()
    return (t1 - t0) / n


def one_run(n, cls, lo, hi):
    make_rings(n, cls, lo, hi)
    t0 = time.perf_counter_ns()
    found = gc.collect()
    t1 = time.perf_counter_ns()
    if found != n:
        sys.exit("gc_cycles.py: gc.collect() found %d unreachable objects, expected %d" % (found, n))
    return (t1 - t0) / n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slots", type=int, default=0)
    parser.add_argument("--min-ring", type=int, default=2)
    parser.add_argument("--max-ring", type=int, default=10)
    parser.add_argument("--shape", choices=("rings", "chains"), default="rings")
    args = parser.parse_args()
    run = one_chains_run if args.shape == "chains" else one_run
    print("bench-python", platform.python_version())
    cls = node_class(args.slots)
    gc.disable()
    gc.collect()
    run(args.objects, cls, args.min_ring, args.max_ring)
    for _ in range(args.runs):
        ns = run(args.objects, cls, args.min_ring, args.max_ring)
        print("bench-sample ns_per_object %.4f" % ns, flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
