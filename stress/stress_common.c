/* stress/stress_common.c - options, deadline, threads and verdict for the
 * stress programs. Shared between threads: the failed flag and the deadline
 * (C11 atomics, so TSan checks this harness as strictly as the library). */
#include "stress_common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_bool failed;
static _Atomic uint64_t deadline_ns;
static uint64_t base_seed;
static char replay_command[512]; /* printed with the first failure */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(const char *program, const char *const *modes) {
    fprintf(stderr, "usage: %s [--seconds S] [--threads N] [--seed X]", program);
    if (modes != NULL) {
        fprintf(stderr, " [--mode mixed");
        for (const char *const *mode = modes; *mode != NULL; mode++)
            fprintf(stderr, "|%s", *mode);
        fprintf(stderr, "]");
    }
    fprintf(stderr, "\n");
    exit(2);
}

/* The name in @modes equal to @value (so options.mode outlives argv), or
 * NULL when there is none. */
static const char *find_mode(const char *value, const char *const *modes) {
    if (strcmp(value, "mixed") == 0)
        return "mixed";
    for (const char *const *mode = modes; mode != NULL && *mode != NULL; mode++)
        if (strcmp(value, *mode) == 0)
            return *mode;
    return NULL;
}

struct stress_options stress_parse(int argc, char **argv, const char *program,
                                   const char *const *modes) {
    struct stress_options options = {
        .seconds = 2.0, .threads = 4, .seed = now_ns(), .mode = "mixed"};
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage(program, modes);
        char *end = NULL;
        char *value = argv[++i];
        if (strcmp(argv[i - 1], "--seconds") == 0) {
            options.seconds = strtod(value, &end);
        } else if (strcmp(argv[i - 1], "--threads") == 0) {
            options.threads = (unsigned)strtoul(value, &end, 10);
        } else if (strcmp(argv[i - 1], "--seed") == 0) {
            options.seed = strtoull(value, &end, 0);
        } else if (strcmp(argv[i - 1], "--mode") == 0) {
            options.mode = find_mode(value, modes);
            if (options.mode == NULL)
                usage(program, modes);
            end = value + strlen(value);
        } else {
            usage(program, modes);
        }
        if (end == value || *end != '\0')
            usage(program, modes);
    }
    if (options.threads == 0 || options.threads > 256 || !(options.seconds > 0))
        usage(program, modes);
    base_seed = options.seed;
    snprintf(replay_command, sizeof replay_command, "%s --threads %u --seconds %g --seed %llu%s%s",
             argv[0], options.threads, options.seconds, (unsigned long long)options.seed,
             strcmp(options.mode, "mixed") != 0 ? " --mode " : "",
             strcmp(options.mode, "mixed") != 0 ? options.mode : "");
    printf("%s: %u threads, %.1f s, seed %llu, mode %s\n", program, options.threads,
           options.seconds, (unsigned long long)options.seed, options.mode);
    fflush(stdout);
    return options;
}

bool stress_running(void) {
    return !atomic_load_explicit(&failed, memory_order_relaxed) &&
           now_ns() < atomic_load_explicit(&deadline_ns, memory_order_relaxed);
}

void stress_fail(const char *format, ...) {
    char line[512];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    fprintf(stderr, "FAIL (seed %llu): %s\n", (unsigned long long)base_seed, line);
    /* The first failure names the command that replays the same choices
     * (the interleaving may still differ: run it a few times). */
    if (!atomic_exchange_explicit(&failed, true, memory_order_relaxed))
        fprintf(stderr, "replay: %s\n", replay_command);
}

struct worker_start {
    void (*worker)(unsigned index, uint64_t seed, void *arg);
    void *arg;
    unsigned index;
    uint64_t seed;
};

static void *worker_main(void *raw) {
    struct worker_start *start = raw;
    start->worker(start->index, start->seed, start->arg);
    return NULL;
}

void stress_run(const struct stress_options *options,
                void (*worker)(unsigned index, uint64_t seed, void *arg), void *arg) {
    atomic_store_explicit(&deadline_ns, now_ns() + (uint64_t)(options->seconds * 1e9),
                          memory_order_relaxed);
    pthread_t *threads = calloc(options->threads, sizeof *threads);
    struct worker_start *starts = calloc(options->threads, sizeof *starts);
    if (threads == NULL || starts == NULL) {
        stress_fail("out of memory starting %u threads", options->threads);
        exit(1);
    }
    for (unsigned i = 0; i < options->threads; i++) {
        starts[i] = (struct worker_start){worker, arg, i, options->seed + i};
        if (pthread_create(&threads[i], NULL, worker_main, &starts[i]) != 0) {
            stress_fail("pthread_create failed for thread %u", i);
            exit(1);
        }
    }
    for (unsigned i = 0; i < options->threads; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    free(starts);
}

int stress_finish(const char *program) {
    bool bad = atomic_load_explicit(&failed, memory_order_relaxed);
    printf("%s: %s\n", program, bad ? "FAILED" : "passed");
    return bad ? 1 : 0;
}
