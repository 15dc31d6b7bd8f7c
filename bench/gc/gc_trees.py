"""bench/gc/gc_trees.py - CPython's side of bench/gc_trees: GCBench (Ellis,
Kovac, Boehm) in ns per node.

The schedule of gc_trees.c: a stretch tree of depth --depth + 2 made and
dropped, a long-lived tree of --depth built top down, then for d = 4, 6, ...,
--depth, NumIters(d) trees built top down and as many bottom up, each dropped
at once; the collector on with its default thresholds. Prints
`bench-sample ns_per_node X` and `bench-sample collections<G> N` (collections
of generation G during the run) per run. Standard library only; run by
bench/gc_trees, or alone:
    python3 bench/gc_trees.py --depth 16 --runs 3
"""
import argparse
import gc
import os
import platform
import sys
import time

MIN_DEPTH = 4


class Node:
    def __init__(self, left=None, right=None):
        self.left = left
        self.right = right


def tree_size(depth):
    return (2 << depth) - 1


def populate(depth, node):
    if depth > 0:
        depth -= 1
        node.left = Node()
        node.right = Node()
        populate(depth, node.left)
        populate(depth, node.right)


def make_tree(depth):
    if depth <= 0:
        return Node()
    return Node(make_tree(depth - 1), make_tree(depth - 1))


def gcbench(depth):
    stretch = tree_size(depth + 2)
    nodes = stretch + tree_size(depth)
    t0 = time.perf_counter_ns()
    temp = make_tree(depth + 2)
    temp = None
    long_lived = Node()
    populate(depth, long_lived)
    for d in range(MIN_DEPTH, depth + 1, 2):
        iters = 2 * stretch // tree_size(d)
        for _ in range(iters):
            temp = Node()
            populate(d, temp)
            temp = None
        for _ in range(iters):
            temp = make_tree(d)
            temp = None
        nodes += 2 * iters * tree_size(d)
    t1 = time.perf_counter_ns()
    del long_lived, temp
    return (t1 - t0) / nodes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("bench-python", platform.python_version())
    gc.set_threshold(700, 10, 10)
    gc.enable()
    for _ in range(args.runs):
        before = [g["collections"] for g in gc.get_stats()]
        ns = gcbench(args.depth)
        after = [g["collections"] for g in gc.get_stats()]
        print("bench-sample ns_per_node %.4f" % ns)
        for g in range(3):
            print("bench-sample collections%d %d" % (g, after[g] - before[g]), flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
