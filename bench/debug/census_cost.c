/* bench/debug/census_cost.c - what counting live objects by type costs:
 * rcgc_most_common_types and rcgc_get_growth over --objects live objects
 * (untracked leaves and tracked pairs, half each), --runs times; prints
 * each call's wall time and the median. The first call is shown apart: it
 * grows the lists the later ones reuse from the raw layer.
 */
#include <rcgc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pair {
    rcgc_object head;
    rcgc_object *other;
};

static void pair_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg) {
    struct pair *pair = (struct pair *)self;
    if (pair->other != NULL)
        visit(pair->other, arg);
}

static const rcgc_type leaf_type = {.name = "leaf", .size = 48};
static const rcgc_type pair_type = {
    .name = "pair", .size = sizeof(struct pair), .flags = RCGC_TYPE_GC, .traverse = pair_traverse};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long objects = 1000000, runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--objects") == 0)
            objects = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = strtol(argv[i + 1], NULL, 10);
    }
    if (objects < 2 || runs < 1 || runs > 100 || rcgc_thread_attach() != 0) {
        fprintf(stderr, "usage: census_cost [--objects N] [--runs R]\n");
        return 2;
    }
    rcgc_object **kept = malloc((size_t)objects * sizeof *kept);
    if (kept == NULL)
        return 1;
    for (long i = 0; i < objects; i++)
        if ((kept[i] = rcgc_new(i % 2 ? &pair_type : &leaf_type)) == NULL)
            return 1;
    double counts[100], growths[100];
    rcgc_type_count top[4];
    for (long r = 0; r <= runs; r++) {
        double t0 = now_ms();
        if (rcgc_most_common_types(top, 4) < 0)
            return 1;
        double t1 = now_ms();
        if (rcgc_get_growth(NULL, 0) < 0)
            return 1;
        double t2 = now_ms();
        if (r == 0) {
            printf("first call: most_common_types %.1f ms, get_growth %.1f ms\n", t1 - t0, t2 - t1);
            continue;
        }
        counts[r - 1] = t1 - t0;
        growths[r - 1] = t2 - t1;
    }
    qsort(counts, (size_t)runs, sizeof counts[0], by_value);
    qsort(growths, (size_t)runs, sizeof growths[0], by_value);
    printf("census_cost: %ld live objects (%zu %s, %zu %s), median of %ld: "
           "most_common_types %.1f ms (%.1f-%.1f), get_growth %.1f ms (%.1f-%.1f)\n",
           objects, top[0].count, top[0].type->name, top[1].count, top[1].type->name, runs,
           counts[runs / 2], counts[0], counts[runs - 1], growths[runs / 2], growths[0],
           growths[runs - 1]);
    for (long i = 0; i < objects; i++)
        rcgc_decref(kept[i]);
    free(kept);
    rcgc_thread_detach();
    return 0;
}
