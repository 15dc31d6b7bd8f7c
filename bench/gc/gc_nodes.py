"""bench/gc/gc_nodes.py - what the CPython side of the collector benchmarks
shares: the node it builds its graphs from (two references, like rcgc's
48-byte bench node) and the timing of collections. Imported by the
gc_*.py scripts (Python puts a script's own folder on sys.path)."""
import time


class Node:
    def __init__(self):
        self.a = None
        self.b = None


class SlotNode:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = None
        self.b = None


def node_class(slots):
    """SlotNode for --slots 1 (CPython's compact instances), Node otherwise."""
    return SlotNode if slots else Node


def collection_timer():
    """A gc.callbacks entry that times each collection from its start to its
    stop (the GIL is held throughout, so that is a pause), and the lists of
    nanoseconds, one per generation, it appends to."""
    clock = time.perf_counter_ns
    durations = ([], [], [])  # lists of ints: not tracked themselves
    started = [0]

    def on_collection(phase, info):
        if phase == "start":
            started[0] = clock()
        else:
            durations[info["generation"]].append(clock() - started[0])

    return on_collection, durations
