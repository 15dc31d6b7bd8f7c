/* bench/runner/compare.c - run one benchmark under rcgc and its peer allocators and
 * print one table (format: bench/README.md): median, spread, ratio, peak
 * RSS.
 *
 * Runs are interleaved (run 1 of every allocator, then run 2, ...) so that a
 * drift of the machine during the session, such as thermal throttling or a
 * noisy neighbour, spreads over all allocators instead of landing on the one
 * measured last. Every run is a fresh process (compare_child.c) whose
 * LD_PRELOAD picks the allocator. Single-threaded; shares nothing.
 */
#include "compare.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RCGC_MALLOC_PRELOAD_DEFAULT
#error "bench/CMakeLists.txt defines RCGC_MALLOC_PRELOAD_DEFAULT"
#endif
#ifndef RCGC_SOURCE_DIR
#error "bench/CMakeLists.txt defines RCGC_SOURCE_DIR"
#endif
#ifndef RCGC_BENCH_MULTIARCH
#define RCGC_BENCH_MULTIARCH "" /* CMake found no multiarch triple */
#endif

#define MAX_RUNS 1000

/* Peers' sonames as Debian ships them; tcmalloc's minimal flavour leaves out
 * the heap profiler, the part of gperftools that would tax every malloc.
 * rcgc's file is looked for at --rcgc-preload, not in the library dirs. */
static const struct {
    const char *name, *soname;
} known_impls[MAX_IMPLS] = {
    {"rcgc", "librcgc-malloc.so"},
    {"glibc", NULL},
    {"mimalloc", "libmimalloc.so.2"},
    {"jemalloc", "libjemalloc.so.2"},
    {"tcmalloc", "libtcmalloc_minimal.so.4"},
    /* Not in the default list: rcgc built with RCGC_SECURE, for measuring
     * what the checked free lists cost (--allocators rcgc,rcgc-secure). */
    {"rcgc-secure", "librcgc-malloc-secure.so"},
};

/* The build's own multiarch directory first (CMAKE_LIBRARY_ARCHITECTURE),
 * then the usual Debian, Fedora and hand-installed places, so that the same
 * binary works on a distribution without multiarch. */
static const char *const lib_dirs[] = {
    "/usr/lib/" RCGC_BENCH_MULTIARCH,
    "/lib/" RCGC_BENCH_MULTIARCH,
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/local/lib",
    "/usr/lib",
};

struct options {
    int runs;
    const char *allocators, *baseline, *title, *rcgc_preload, *csv;
    char **bench_argv;
};

static void usage(const char *prog, const char *why) {
    if (why != NULL)
        fprintf(stderr, "%s: %s\n", prog, why);
    fprintf(stderr,
            "usage: %s [--runs N] [--allocators rcgc,glibc,mimalloc,jemalloc,tcmalloc]\n"
            "       (also rcgc-secure: rcgc built with RCGC_SECURE)\n"
            "       [--baseline NAME] [--title TEXT] [--rcgc-preload PATH] [--csv FILE]\n"
            "       -- BENCH_BINARY [ARGS...]\n",
            prog);
    exit(2);
}

static void options_parse(int argc, char **argv, struct options *o) {
    *o = (struct options){
        .runs = 5, .allocators = "rcgc,glibc,mimalloc,jemalloc,tcmalloc", .baseline = "mimalloc"};
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            usage(argv[0], NULL);
        if (i + 1 >= argc)
            usage(argv[0], "an option is missing its value");
        if (strcmp(a, "--runs") == 0) {
            char *end = NULL;
            long n = strtol(argv[i + 1], &end, 10);
            if (*end != '\0' || n < 1 || n > MAX_RUNS)
                usage(argv[0], "--runs wants an integer from 1 to 1000");
            o->runs = (int)n;
            i++;
            continue;
        }
        const char **slot = strcmp(a, "--allocators") == 0     ? &o->allocators
                            : strcmp(a, "--baseline") == 0     ? &o->baseline
                            : strcmp(a, "--title") == 0        ? &o->title
                            : strcmp(a, "--rcgc-preload") == 0 ? &o->rcgc_preload
                            : strcmp(a, "--csv") == 0          ? &o->csv
                                                               : NULL;
        if (slot == NULL)
            usage(argv[0], "unknown option before --");
        *slot = argv[++i];
    }
    if (i + 1 >= argc)
        usage(argv[0], "no benchmark command after --");
    o->bench_argv = argv + i + 1;
}

static int known_index(const char *name, size_t len) {
    for (int k = 0; k < MAX_IMPLS; k++)
        if (strlen(known_impls[k].name) == len && strncmp(known_impls[k].name, name, len) == 0)
            return k;
    return -1;
}

/* Fill @impls from the comma list; returns how many. Exits on a bad list. */
static int impls_parse(const char *prog, const char *list, struct impl *impls) {
    int count = 0;
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        int k = known_index(p, len);
        if (k < 0)
            usage(prog,
                  "--allocators takes rcgc, glibc, mimalloc, jemalloc, tcmalloc, rcgc-secure");
        for (int j = 0; j < count; j++)
            if (impls[j].name == known_impls[k].name)
                usage(prog, "--allocators names an allocator twice");
        impls[count++] =
            (struct impl){.name = known_impls[k].name, .soname = known_impls[k].soname};
        p += len + (p[len] == ',');
    }
    if (count == 0)
        usage(prog, "--allocators is empty");
    return count;
}

/* Find each library; a missing one is skipped with a note, not an error,
 * so the harness runs on a machine that lacks some peers. */
static void impls_locate(struct impl *impls, int count, const char *rcgc_preload) {
    for (int i = 0; i < count; i++) {
        struct impl *m = &impls[i];
        if (m->soname == NULL)
            continue;
        if (strncmp(m->name, "rcgc", 4) == 0) {
            bool secure = strcmp(m->name, "rcgc-secure") == 0;
            const char *path = secure         ? RCGC_MALLOC_SECURE_PRELOAD_DEFAULT
                               : rcgc_preload ? rcgc_preload
                                              : RCGC_MALLOC_PRELOAD_DEFAULT;
            snprintf(m->path, sizeof m->path, "%s", path);
            if (access(m->path, R_OK) != 0) {
                m->state = IMPL_SKIPPED;
                if (rcgc_preload != NULL)
                    fprintf(stderr, "rcgc: skipped: %s not found\n", m->path);
                else
                    fprintf(stderr,
                            "rcgc: skipped: %s not built (build the librcgc-malloc.so target)\n",
                            m->path);
            }
            continue;
        }
        m->state = IMPL_SKIPPED;
        for (size_t d = 0; d < sizeof lib_dirs / sizeof lib_dirs[0]; d++) {
            snprintf(m->path, sizeof m->path, "%s/%s", lib_dirs[d], m->soname);
            if (access(m->path, R_OK) == 0) {
                m->state = IMPL_RUNNING;
                break;
            }
        }
        if (m->state == IMPL_SKIPPED) {
            snprintf(m->path, sizeof m->path, "%s/%s", lib_dirs[0], m->soname);
            fprintf(stderr, "%s: skipped: %s not found\n", m->name, m->path);
        }
    }
}

/* Shell-quote each argument that needs it, so the reproduce line pastes. */
static char *join_quoted(char *const *args) {
    size_t cap = 1;
    for (char *const *a = args; *a != NULL; a++)
        cap += 4 * strlen(*a) + 3;
    char *s = malloc(cap), *w = s;
    if (s == NULL)
        exit(1);
    for (char *const *a = args; *a != NULL; a++) {
        if (a != args)
            *w++ = ' ';
        const char *arg = *a;
        bool plain = *arg != '\0' && strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                                                 "VWXYZ0123456789_@%+=:,./-") == strlen(arg);
        if (plain) {
            w = stpcpy(w, arg);
            continue;
        }
        *w++ = '\'';
        for (; *arg != '\0'; arg++) {
            if (*arg == '\'')
                w = stpcpy(w, "'\\''"); /* close, escaped quote, reopen */
            else
                *w++ = *arg;
        }
        *w++ = '\'';
    }
    *w = '\0';
    return s;
}

static void short_commit(char *buf, size_t size) {
    /* Writable copies: exec's argv is char *const[], string literals are
     * const under -Wwrite-strings. */
    static char git[] = "git", dash_c[] = "-C", dir[] = RCGC_SOURCE_DIR, verb[] = "rev-parse",
                short_opt[] = "--short", head[] = "HEAD";
    char *cmd[] = {git, dash_c, dir, verb, short_opt, head, NULL};
    struct child_report rep;
    compare_child_run(cmd, NULL, &rep);
    const char *hash = rep.exit_status == 0 && rep.first_line[0] ? rep.first_line : "unknown";
    snprintf(buf, size, "%s", hash);
}

/* Run 1 of every allocator, then run 2, and so on. An allocator that fails
 * once is not run again: its row can only say "failed" anyway. */
static void run_all(struct impl *impls, int count, const struct options *o, struct unit *unit) {
    struct child_report rep;
    for (int r = 0; r < o->runs; r++) {
        int running = 0;
        for (int i = 0; i < count; i++)
            running += impls[i].state == IMPL_RUNNING;
        if (running == 0)
            break;
        fprintf(stderr, "compare: run %d/%d:", r + 1, o->runs);
        for (int i = 0; i < count; i++) {
            struct impl *m = &impls[i];
            if (m->state != IMPL_RUNNING)
                continue;
            compare_child_run(o->bench_argv, m->soname ? m->path : NULL, &rep);
            if (rep.ok && unit->known &&
                (strcmp(rep.unit, unit->name) != 0 ||
                 rep.lower_is_better != unit->lower_is_better)) {
                rep.ok = false;
                snprintf(rep.failure, sizeof rep.failure, "result in %s, earlier runs in %s",
                         rep.unit, unit->name);
            }
            if (!rep.ok) {
                m->state = IMPL_FAILED;
                m->failure = rep;
                fprintf(stderr, " %s failed", m->name);
                continue;
            }
            if (!unit->known) {
                *unit = (struct unit){.known = true, .lower_is_better = rep.lower_is_better};
                memcpy(unit->name, rep.unit, sizeof unit->name);
            }
            m->values[m->runs_done] = rep.value;
            m->rss_mib[m->runs_done] = rep.peak_rss_mib;
            m->runs_done++;
            char num[32];
            bench_format_number(num, sizeof num, rep.value);
            fprintf(stderr, " %s %s", m->name, num);
        }
        fprintf(stderr, "\n");
    }
}

/* The --baseline allocator if it ran to the end, else the first that did. */
static const struct impl *pick_baseline(const struct impl *impls, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (impls[i].state == IMPL_RUNNING && strcmp(impls[i].name, name) == 0)
            return &impls[i];
    for (int i = 0; i < count; i++)
        if (impls[i].state == IMPL_RUNNING)
            return &impls[i];
    return NULL;
}

int main(int argc, char **argv) {
    struct options o;
    options_parse(argc, argv, &o);
    struct impl impls[MAX_IMPLS];
    int count = impls_parse(argv[0], o.allocators, impls);
    if (known_index(o.baseline, strlen(o.baseline)) < 0)
        usage(argv[0], "--baseline takes rcgc, glibc, mimalloc, jemalloc, tcmalloc");
    impls_locate(impls, count, o.rcgc_preload);
    for (int i = 0; i < count; i++) {
        impls[i].values = calloc(2 * (size_t)o.runs, sizeof(double));
        if (impls[i].values == NULL) {
            fprintf(stderr, "compare: out of memory\n");
            exit(1);
        }
        impls[i].rss_mib = impls[i].values + o.runs;
    }

    struct unit unit = {0};
    run_all(impls, count, &o, &unit);
    for (int i = 0; i < count; i++) {
        if (impls[i].state != IMPL_RUNNING)
            continue;
        bench_stats_summarize(impls[i].values, (size_t)impls[i].runs_done, &impls[i].value);
        bench_stats_summarize(impls[i].rss_mib, (size_t)impls[i].runs_done, &impls[i].rss);
    }
    const struct impl *base = pick_baseline(impls, count, o.baseline);

    char commit[CHILD_LINE_MAX];
    short_commit(commit, sizeof commit);
    char *bench_cmd = join_quoted(o.bench_argv);
    char *full_cmd = join_quoted(argv);
    const char *name = o.title ? o.title : bench_cmd;
    printf("%s, median of %d, commit %s\n", name, o.runs, commit);
    compare_report_table(impls, count, base, &unit);
    printf("reproduce: %s\n", full_cmd);
    fflush(stdout);

    int status = 0;
    for (int i = 0; i < count; i++)
        if (impls[i].state == IMPL_FAILED)
            status = 1;
    if (base == NULL) {
        fprintf(stderr, "compare: no allocator produced a result\n");
        status = 1;
    }
    if (o.csv != NULL && base != NULL && compare_report_csv(o.csv, name, impls, count, base) != 0)
        status = 1;
    for (int i = 0; i < count; i++)
        free(impls[i].values); /* rss_mib shares the block */
    free(bench_cmd);
    free(full_cmd);
    return status;
}
