/* src/debug/exit_report.c - RCGC_SHOW_STATS=1: rcgc's statistics at exit.
 *
 * Shares nothing. options.c registers rcgc__exit_report_print with atexit
 * when it reads RCGC_SHOW_STATS=1 at start; referencing it from there also
 * keeps this file in a static link. Each layer's report is added here as
 * the layer lands.
 */
#include "base/base_internal.h"

#include <rcgc/alloc.h>
#include <rcgc/gc.h>
#include <rcgc/raw.h>

#include <stdio.h>

void rcgc__exit_report_print(void) {
    rcgc_print_gc_stats(stderr);
    rcgc_print_alloc_stats(stderr);
    rcgc_print_raw_stats(stderr);
}
