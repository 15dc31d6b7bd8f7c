/* bench/gc/gc_server.c - the pauses a server holding a large object graph
 * sees, and what its collector costs it in time and memory.
 *
 * The workload, the same for every implementation: U users, each a pair
 * of nodes referring to each other, the first also referring to another
 * user chosen at random, held in a table the host owns (a C array for
 * rcgc and Boehm, a list for CPython): the large graph that lives for
 * good. Beside them S sessions (S = U / 9, a tenth of the objects), each
 * a pair whose first node refers to a random user. 2 (U + S) objects in
 * all (--objects). Then, for --seconds, requests: each replaces a random
 * session (the old one becomes cyclic garbage; most die old, after about
 * S requests), rewires a random user to another, and makes and drops one
 * cyclic client pair (dies young). The collector runs at its defaults.
 *
 * Each implementation runs in a process of its own, so its peak resident
 * memory is its own: rcgc with stop-the-world full collections, rcgc with
 * full collections in increments (rcgc_set_old_collection), CPython
 * (bench/gc/gc_server.py), Boehm GC, and Boehm GC with incremental
 * collection. Reported per implementation: requests per second; the
 * pauses, per generation where there are generations (rcgc: from the stop
 * request to the restart, each increment of an incremental full collection
 * a pause of its own; CPython: a collection, under the GIL; Boehm: each
 * stop of the world), as p50, p99 and max, and over every stop; the
 * collector's share of the loop's wall time; peak RSS.
 *
 * Usage: gc_server [--objects N] [--seconds S] [--seed X] [--python CMD]
 *                  [--only rcgc|rcgc-incremental|cpython|boehm|boehm-incremental]
 *                  [--pauses DIR]
 * (--only: that row alone, to profile one implementation; --pauses: write
 * each implementation's stops as DIR/gc_server_<key>.dat, "ms fraction"
 * lines of their distribution, for bench/gc/gc_server_plot.sh)
 */
#include "gc_bench.h"

#include "bench_util.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PAUSE_KINDS = RCGC_GENERATIONS };

/* What one implementation's run measured. */
struct server_result {
    const char *name, *key;
    struct gc_bench_samples pause[PAUSE_KINDS]; /* ns; Boehm: all in [0] */
    double requests_per_second, stopped_share, collector_share, peak_rss_mib;
    bool generations, ok;
};

static long long users_count, sessions_count, seconds = 5, seed = 1;
static const char *only;       /* --only: one row's key, or NULL for all */
static const char *pauses_dir; /* --pauses */

static bool wanted(const char *key) { return only == NULL || strcmp(only, key) == 0; }

/* ----------------------------------------------------- The child's report */

/* A child writes "kind value" lines to @out; the parent reads them back. */
static void report_line(FILE *out, const char *kind, double value) {
    fprintf(out, "%s %.17g\n", kind, value);
}

static double peak_rss_mib(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_maxrss / 1024.0;
}

/* ------------------------------------------------------------------- rcgc */

struct rcgc_log {
    bool on, incremental;
    FILE *out;
    double elapsed_sum, pause_sum;
    uint64_t last_increment_at;
};

/* Stop-the-world: one pause per collection. Incremental full collections:
 * one per increment, and the collector's time is the increments plus what
 * follows the last one (finalizers, clears, frees), not the wall time
 * from start to stop, which the host mostly had. */
static void on_collection(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    struct rcgc_log *log = arg;
    if (!log->on || phase == RCGC_GC_START)
        return;
    char kind[16];
    snprintf(kind, sizeof kind, "pause%d", info->generation);
    if (phase == RCGC_GC_INCREMENT) {
        report_line(log->out, kind, (double)info->pause_ns);
        log->elapsed_sum += (double)info->pause_ns;
        log->pause_sum += (double)info->pause_ns;
        log->last_increment_at = bench_now_ns();
        return;
    }
    if (log->incremental && info->generation == 2) {
        if (log->last_increment_at != 0)
            log->elapsed_sum += (double)(bench_now_ns() - log->last_increment_at);
        return;
    }
    report_line(log->out, kind, (double)info->pause_ns);
    log->elapsed_sum += (double)info->elapsed_ns;
    log->pause_sum += (double)info->pause_ns;
}

/* A session: a <-> b, a -> @other (may be NULL while building). */
static rcgc_object *rcgc_session(rcgc_object *other) {
    rcgc_object *a = gc_bench_node_new(), *b = gc_bench_node_new();
    rcgc_incref(a);
    model_slot_fill(b, 0, a);
    model_slot_fill(a, 0, b);
    if (other != NULL)
        model_slot_set(a, 1, other);
    return a;
}

static void run_rcgc(FILE *out, bool incremental) {
    if (rcgc_thread_attach() != 0 ||
        rcgc_set_old_collection(incremental ? RCGC_OLD_INCREMENTAL : RCGC_OLD_STOP_THE_WORLD) != 0)
        exit(1);
    struct bench_rng rng;
    bench_rng_seed(&rng, (uint64_t)seed);
    uint32_t u = (uint32_t)users_count, s = (uint32_t)sessions_count;
    rcgc_object **users = calloc(u, sizeof(rcgc_object *)),
                **sessions = calloc(s, sizeof(rcgc_object *));
    if (users == NULL || sessions == NULL)
        exit(1);
    for (uint32_t i = 0; i < u; i++)
        users[i] = rcgc_session(NULL);
    for (uint32_t i = 0; i < u; i++)
        model_slot_set(users[i], 1, users[bench_rng_below(&rng, u)]);
    for (uint32_t i = 0; i < s; i++)
        sessions[i] = rcgc_session(users[bench_rng_below(&rng, u)]);
    rcgc_collect(RCGC_GENERATIONS - 1);
    struct rcgc_log log = {.out = out, .incremental = incremental};
    if (rcgc_callback_add_increments(on_collection, &log) != 0)
        exit(1);
    uint64_t t0 = bench_now_ns(), deadline = t0 + (uint64_t)seconds * 1000000000u, now;
    long long requests = 0;
    log.on = true;
    do {
        for (int k = 0; k < 256; k++) {
            uint32_t i = bench_rng_below(&rng, s);
            rcgc_object *old = sessions[i];
            sessions[i] = rcgc_session(users[bench_rng_below(&rng, u)]);
            rcgc_decref(old);
            model_slot_set(users[bench_rng_below(&rng, u)], 1, users[bench_rng_below(&rng, u)]);
            gc_bench_make_dropped_cycle();
        }
        requests += 256;
        now = bench_now_ns();
    } while (now < deadline);
    log.on = false;
    report_line(out, "rate", (double)requests / ((double)(now - t0) / 1e9));
    report_line(out, "stopped", 100.0 * log.pause_sum / (double)(now - t0));
    report_line(out, "share", 100.0 * log.elapsed_sum / (double)(now - t0));
    report_line(out, "rss", peak_rss_mib());
}

/* ------------------------------------------------------------------ Boehm */

#if RCGC_BENCH_HAVE_BOEHM
/* Two references and a type word, as gc_full's: 24 bytes, 32 in Boehm's
 * 16-byte granules (rcgc's node is 48, CPython's 48 with its GC head). */
struct boehm_node {
    struct boehm_node *a, *b;
    long type;
};

/* In .bss, which Boehm scans as roots: the tables. */
static struct boehm_node **volatile boehm_users, **volatile boehm_sessions;
static FILE *boehm_out;
static uint64_t boehm_stop_started, boehm_stopped_ns, boehm_collecting_ns, boehm_collection_started;
static bool boehm_logging;

static void on_boehm_event(GC_EventType event) {
    uint64_t now = bench_now_ns();
    if (event == GC_EVENT_PRE_STOP_WORLD)
        boehm_stop_started = now;
    else if (event == GC_EVENT_POST_START_WORLD && boehm_logging) {
        report_line(boehm_out, "pause0", (double)(now - boehm_stop_started));
        boehm_stopped_ns += now - boehm_stop_started;
    } else if (event == GC_EVENT_START)
        boehm_collection_started = now;
    else if (event == GC_EVENT_END && boehm_logging)
        boehm_collecting_ns += now - boehm_collection_started;
}

static struct boehm_node *boehm_node_new(void) {
    struct boehm_node *node = GC_MALLOC(sizeof *node);
    if (node == NULL)
        exit(1);
    return node;
}

static struct boehm_node *boehm_session(struct boehm_node *other) {
    struct boehm_node *a = boehm_node_new(), *b = boehm_node_new();
    a->a = b;
    b->a = a;
    a->b = other;
    return a;
}

static void run_boehm(FILE *out, bool incremental) {
    gc_bench_boehm_init();
    if (incremental)
        GC_enable_incremental();
    boehm_out = out;
    struct bench_rng rng;
    bench_rng_seed(&rng, (uint64_t)seed);
    uint32_t u = (uint32_t)users_count, s = (uint32_t)sessions_count;
    struct boehm_node **users = GC_MALLOC(u * sizeof(struct boehm_node *));
    struct boehm_node **sessions = GC_MALLOC(s * sizeof(struct boehm_node *));
    if (users == NULL || sessions == NULL)
        exit(1);
    boehm_users = users;
    boehm_sessions = sessions;
    for (uint32_t i = 0; i < u; i++)
        users[i] = boehm_session(NULL);
    for (uint32_t i = 0; i < u; i++)
        users[i]->b = users[bench_rng_below(&rng, u)];
    for (uint32_t i = 0; i < s; i++)
        sessions[i] = boehm_session(users[bench_rng_below(&rng, u)]);
    GC_gcollect();
    GC_set_on_collection_event(on_boehm_event);
    uint64_t t0 = bench_now_ns(), deadline = t0 + (uint64_t)seconds * 1000000000u, now;
    long long requests = 0;
    boehm_logging = true;
    do {
        for (int k = 0; k < 256; k++) {
            uint32_t i = bench_rng_below(&rng, s);
            sessions[i] = boehm_session(users[bench_rng_below(&rng, u)]);
            users[bench_rng_below(&rng, u)]->b = users[bench_rng_below(&rng, u)];
            (void)boehm_session(NULL); /* the client, dropped at once */
        }
        requests += 256;
        now = bench_now_ns();
    } while (now < deadline);
    boehm_logging = false;
    report_line(out, "rate", (double)requests / ((double)(now - t0) / 1e9));
    report_line(out, "stopped", 100.0 * (double)boehm_stopped_ns / (double)(now - t0));
    if (!incremental) /* its increments do not report a collection's start and end */
        report_line(out, "share", 100.0 * (double)boehm_collecting_ns / (double)(now - t0));
    report_line(out, "rss", peak_rss_mib());
}
#endif

/* ---------------------------------------------------------------- CPython */

static void run_cpython(struct server_result *r) {
    static const char *const keys[] = {"pause0", "pause1", "pause2", "rate", "share", "rss"};
    struct gc_bench_samples out[6];
    memset(out, 0, sizeof out);
    char args[128];
    const char *why = NULL;
    snprintf(args, sizeof args, "--users %lld --sessions %lld --seconds %lld --seed %lld",
             users_count, sessions_count, seconds, seed);
    if (gc_bench_python("gc_server.py", args, keys, out, 6, &why) != 0 || out[3].count == 0) {
        fprintf(stderr, "gc_server: CPython %s\n", why ? why : "printed no result");
        return;
    }
    for (int g = 0; g < PAUSE_KINDS; g++)
        r->pause[g] = out[g];
    r->requests_per_second = out[3].v[0];
    r->stopped_share = r->collector_share = out[4].v[0]; /* the GIL: a collection stops all */
    r->peak_rss_mib = out[5].v[0];
    r->generations = r->ok = true;
}

/* ------------------------------------------------------- Running children */

/* Run @run(out) in a child process and read its report into @r. */
static void run_child(struct server_result *r, void (*run)(FILE *out, bool flag), bool flag) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        FILE *out = fdopen(fds[1], "w");
        run(out, flag);
        fclose(out);
        _exit(0);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[128];
    while (in != NULL && fgets(line, sizeof line, in) != NULL) {
        char *space = strchr(line, ' ');
        if (space == NULL)
            continue;
        *space = '\0';
        const char *kind = line;
        double value = strtod(space + 1, NULL);
        if (strncmp(kind, "pause", 5) == 0 && kind[5] >= '0' && kind[5] < '0' + PAUSE_KINDS)
            gc_bench_push(&r->pause[kind[5] - '0'], value);
        else if (strcmp(kind, "rate") == 0)
            r->requests_per_second = value;
        else if (strcmp(kind, "stopped") == 0)
            r->stopped_share = value;
        else if (strcmp(kind, "share") == 0)
            r->collector_share = value;
        else if (strcmp(kind, "rss") == 0)
            r->peak_rss_mib = value;
    }
    if (in != NULL)
        fclose(in);
    int status = 0;
    waitpid(child, &status, 0);
    r->ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && r->requests_per_second > 0;
}

static void run_rcgc_child(FILE *out, bool incremental) { run_rcgc(out, incremental); }

#if RCGC_BENCH_HAVE_BOEHM
static void run_boehm_child(FILE *out, bool incremental) { run_boehm(out, incremental); }
#endif

/* ----------------------------------------------------------------- Output */

/* --pauses: @s (every stop of one implementation) as its distribution. */
static void write_distribution(const char *key, struct gc_bench_samples *s) {
    if (pauses_dir == NULL || s->count == 0)
        return;
    char path[512], what[128];
    snprintf(path, sizeof path, "%s/gc_server_%s.dat", pauses_dir, key);
    snprintf(what, sizeof what, "%s: stop of the world (ms), fraction of stops at or below it",
             key);
    gc_bench_write_distribution(path, what, s, 1e6);
}

/* "p50 / p99 / max" of @s in ms, or "-" when empty. */
static void format_pauses(char *buf, size_t size, struct gc_bench_samples *s) {
    if (s->count == 0) {
        snprintf(buf, size, "-");
        return;
    }
    snprintf(buf, size, "%.3g / %.3g / %.3g (%zu)", gc_bench_quantile(s, 0.50) / 1e6,
             gc_bench_quantile(s, 0.99) / 1e6, gc_bench_max(s) / 1e6, s->count);
}

static void print_results(struct server_result *results, int count) {
    char objects[32];
    gc_bench_format_count(objects, sizeof objects, 2 * (users_count + sessions_count));
    printf("bench/gc_server: %s live objects, %lld s of requests, commit %s\n\n", objects, seconds,
           gc_bench_commit());
    printf("| implementation | requests/s | pauses, ms: p50 / p99 / max (count) | every stop, ms: "
           "p99 / max | world stopped | collector time | collector us per request | peak RSS MiB "
           "|\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (int k = 0; k < count; k++) {
        struct server_result *r = &results[k];
        if (!r->ok) {
            printf("| %s | skipped | | | | | | |\n", r->name);
            continue;
        }
        char cell[PAUSE_KINDS][96], pauses[320] = "";
        for (int g = 0; g < PAUSE_KINDS; g++)
            format_pauses(cell[g], sizeof cell[g], &r->pause[g]);
        if (r->generations)
            snprintf(pauses, sizeof pauses, "gen 0: %s; gen 1: %s; gen 2: %s", cell[0], cell[1],
                     cell[2]);
        else
            snprintf(pauses, sizeof pauses, "every stop: %s", cell[0]);
        struct gc_bench_samples every = {0};
        for (int g = 0; g < PAUSE_KINDS; g++)
            for (size_t i = 0; i < r->pause[g].count; i++)
                gc_bench_push(&every, r->pause[g].v[i]);
        write_distribution(r->key, &every);
        char all[64] = "-";
        if (every.count > 0)
            snprintf(all, sizeof all, "%.3g / %.3g", gc_bench_quantile(&every, 0.99) / 1e6,
                     gc_bench_max(&every) / 1e6);
        free(every.v);
        char share[32] = "-", per_request[32] = "-";
        if (r->collector_share >= 0) {
            snprintf(share, sizeof share, "%.1f %%", r->collector_share);
            snprintf(per_request, sizeof per_request, "%.2f",
                     r->collector_share / 100.0 / r->requests_per_second * 1e6);
        }
        printf("| %s | %.0f | %s | %s | %.1f %% | %s | %s | %.0f |\n", r->name,
               r->requests_per_second, pauses, all, r->stopped_share, share, per_request,
               r->peak_rss_mib);
    }
    printf("\nworld stopped: the pauses' sum over the loop's wall time; collector time: whole\n"
           "collections, clears and frees after the restart included (rcgc; for incremental\n"
           "full collections their stops and what follows the last), over the same.\n"
           "reproduce: gc_server --objects %lld --seconds %lld --seed %lld\n",
           2 * (users_count + sessions_count), seconds, seed);
}

int main(int argc, char **argv) {
    long long objects = 1000000;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--pauses") == 0 && i + 1 < argc)
            pauses_dir = argv[++i];
        else if (!bench_opt_int(argc, argv, &i, "--objects", 4, 1LL << 31, &objects) &&
                 !bench_opt_int(argc, argv, &i, "--seconds", 1, 3600, &seconds) &&
                 !bench_opt_int(argc, argv, &i, "--seed", 0, 1LL << 62, &seed) &&
                 !gc_bench_common_opt(argc, argv, &i))
            bench_usage_error(argv[0], argv[i]);
    sessions_count = objects / 20;
    users_count = objects / 2 - sessions_count;
    struct server_result results[5] = {
        {.name = "rcgc, stop-the-world", .key = "rcgc", .generations = true, .collector_share = -1},
        {.name = "rcgc, incremental",
         .key = "rcgc-incremental",
         .generations = true,
         .collector_share = -1},
        {.name = "CPython", .key = "cpython", .collector_share = -1},
        {.name = "Boehm GC", .key = "boehm", .collector_share = -1},
        {.name = "Boehm GC, incremental", .key = "boehm-incremental", .collector_share = -1},
    };
    if (wanted("rcgc"))
        run_child(&results[0], run_rcgc_child, false);
    if (wanted("rcgc-incremental"))
        run_child(&results[1], run_rcgc_child, true);
    if (wanted("cpython"))
        run_cpython(&results[2]);
#if RCGC_BENCH_HAVE_BOEHM
    if (wanted("boehm"))
        run_child(&results[3], run_boehm_child, false);
    if (wanted("boehm-incremental"))
        run_child(&results[4], run_boehm_child, true);
#endif
    print_results(results, 5);
    return 0;
}
