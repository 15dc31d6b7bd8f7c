/* rcgc.h - the whole public API of rcgc in one include.
 *
 * rcgc gives a multi-threaded host what CPython gives its own objects: a
 * small-object allocator, reference counting, a generational cycle collector,
 * weak references and leak-hunting tools, with no global lock. Each module
 * has its own header under rcgc/, documented at every declaration:
 *
 *   rcgc/common.h  export macro, version, fatal-error handler
 *   rcgc/raw.h     layer 1: portable raw memory, counters, failure injection
 *   rcgc/alloc.h   layer 2: the small-object allocator, malloc-compatible
 *   rcgc/object.h  layer 3: objects, reference counts, threads
 *   rcgc/gc.h      the generational cycle collector
 *
 * Link with -lrcgc (pkg-config --libs rcgc) or rcgc::rcgc (find_package).
 */
#ifndef RCGC_H
#define RCGC_H

#include <rcgc/common.h>
#include <rcgc/raw.h>
#include <rcgc/alloc.h>
#include <rcgc/object.h>
#include <rcgc/gc.h>
#include <rcgc/weakref.h>
#include <rcgc/debug.h>

#endif /* RCGC_H */
