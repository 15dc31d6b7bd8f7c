"""bench/gc/gc_server.py - CPython's side of bench/gc_server: a server
holding a large graph of sessions while requests replace them.

The workload of gc_server.c: --users users in a list, each a pair of
nodes referring to each other, the first also referring to a random user;
--sessions sessions, pairs whose first node refers to a random user; then,
for --seconds, requests that each replace a random session (the old one
dies as cyclic garbage), rewire a random user, and make and drop one cyclic client pair. The collector runs at its defaults. A
gc.callbacks entry times each collection (under the GIL, a pause). Prints
`bench-sample pause<G> NS` per collection of generation G, then
`bench-sample rate R` (requests per second), `bench-sample share PCT`
(collections' time over the loop's wall time) and `bench-sample rss MIB`
(peak resident memory). Standard library only; run by bench/gc_server,
or alone:
    python3 bench/gc/gc_server.py --users 450000 --sessions 50000 --seconds 5
"""
import argparse
import gc
import os
import platform
import random
import resource
import sys
import time

from gc_nodes import collection_timer, node_class


def session(cls, other):
    a = cls()
    b = cls()
    a.a = b
    b.a = a
    a.b = other
    return a


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=450000)
    parser.add_argument("--sessions", type=int, default=50000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slots", type=int, default=1)
    args = parser.parse_args()
    print("bench-python", platform.python_version())
    cls = node_class(args.slots)
    rng = random.Random(args.seed)
    u = args.users
    s = args.sessions
    gc.set_threshold(700, 10, 10)
    gc.enable()
    users = [session(cls, None) for _ in range(u)]
    for user in users:
        user.b = users[rng.randrange(u)]
    sessions = [session(cls, users[rng.randrange(u)]) for _ in range(s)]
    gc.collect()

    on_collection, durations = collection_timer()
    clock = time.perf_counter_ns
    gc.callbacks.append(on_collection)
    randrange = rng.randrange
    t0 = clock()
    deadline = t0 + int(args.seconds * 1e9)
    requests = 0
    while True:
        for _ in range(256):
            sessions[randrange(s)] = session(cls, users[randrange(u)])
            users[randrange(u)].b = users[randrange(u)]
            session(cls, None)  # the client, dropped at once
        requests += 256
        now = clock()
        if now >= deadline:
            break
    gc.callbacks.remove(on_collection)
    wall = now - t0
    for g, d in enumerate(durations):
        sys.stdout.write("".join("bench-sample pause%d %d\n" % (g, ns) for ns in d))
    print("bench-sample rate %.2f" % (requests / (wall / 1e9)))
    print("bench-sample share %.4f" % (100.0 * sum(sum(d) for d in durations) / wall))
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("bench-sample rss %.2f" % (rss_kib / 1024.0), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
