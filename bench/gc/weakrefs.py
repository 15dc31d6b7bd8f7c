"""bench/gc/weakrefs.py - CPython's side of bench/weakrefs: calling a
weakref.ref, referents dying with and without a weakref callback, and a
WeakValueDictionary of integer keys read and written at random keys.

Nodes are gc_nodes.Node (two attributes, weak-referenceable). One untimed
warm-up of each, then --runs timed runs; prints `bench-sample KEY X` lines
(ns per operation) for get_ns, death_plain_ns, death_ref_ns,
death_callback_ns, map_get_ns and map_set_ns. Standard library only; run
by bench/weakrefs, or alone:
    python3 bench/gc/weakrefs.py --ops 2000000 --runs 5
"""
import argparse
import gc
import os
import platform
import random
import sys
import time
import weakref

from gc_nodes import Node


def get_run(ops):
    obj = Node()
    ref = weakref.ref(obj)
    t0 = time.perf_counter_ns()
    for _ in range(ops):
        ref()
    return (time.perf_counter_ns() - t0) / ops


def death_run(n, how):
    calls = [0]

    def callback(_ref):
        calls[0] += 1

    objs = [Node() for _ in range(n)]
    refs = None
    if how == 1:
        refs = [weakref.ref(o) for o in objs]
    elif how == 2:
        refs = [weakref.ref(o, callback) for o in objs]
    t0 = time.perf_counter_ns()
    objs.clear()
    ns = (time.perf_counter_ns() - t0) / n
    if how == 2 and calls[0] != n:
        sys.exit("weakrefs.py: %d callbacks for %d deaths" % (calls[0], n))
    del refs
    return ns


def map_runs(ops, keys, seed):
    values = [Node() for _ in range(keys)]
    d = weakref.WeakValueDictionary()
    for k in range(keys):
        d[k] = values[k]
    rng = random.Random(seed)
    picks = [rng.randrange(keys) for _ in range(ops)]
    t0 = time.perf_counter_ns()
    for k in picks:
        d.get(k)
    get_ns = (time.perf_counter_ns() - t0) / ops
    sets = picks[: ops // 4]
    t0 = time.perf_counter_ns()
    for k in sets:
        d[k] = values[k]
    set_ns = (time.perf_counter_ns() - t0) / len(sets)
    return get_ns, set_ns


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=2000000)
    parser.add_argument("--referents", type=int, default=1000000)
    parser.add_argument("--keys", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("bench-python", platform.python_version())
    gc.disable()
    get_run(args.ops // 10)
    death_run(args.referents // 10, 2)
    map_runs(args.ops // 10, args.keys, 0)
    for r in range(args.runs):
        print("bench-sample get_ns %.4f" % get_run(args.ops), flush=True)
        for how, key in ((0, "death_plain_ns"), (1, "death_ref_ns"), (2, "death_callback_ns")):
            print("bench-sample %s %.4f" % (key, death_run(args.referents, how)), flush=True)
        get_ns, set_ns = map_runs(args.ops, args.keys, r + 1)
        print("bench-sample map_get_ns %.4f" % get_ns, flush=True)
        print("bench-sample map_set_ns %.4f" % set_ns, flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
