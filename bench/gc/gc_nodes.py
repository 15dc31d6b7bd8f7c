"""bench/gc/gc_nodes.py - the node the CPython side of the collector benchmarks
builds its graphs from: two references, like rcgc's 48-byte bench node.
Imported by gc_full.py, gc_cycles.py and gc_pause.py (Python puts a
script's own folder on sys.path)."""


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
