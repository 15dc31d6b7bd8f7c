/* src/debug/report.c - the report file (rcgc_report_open, RCGC_REPORT=path):
 * JSON lines written as the process runs, so a process killed at any
 * moment leaves every line but the one being written.
 *
 *   {"kind":"start", ...}        the program, pid, options
 *   {"kind":"sample", "t":...}   memory and collector figures, every interval
 *   {"kind":"exit", ...}         at rcgc_report_close (or exit): process
 *                                memory, allocator, collector statistics with
 *                                pause percentiles, live objects by type,
 *                                uncollectable garbage, allocation sites
 *
 * Bounded: the interval doubles after every 1024 samples, so a day of 100 ms
 * samples is about 17 000 lines (1.5 MB), a year about 30 000; the exit
 * record lists at most 50 types and 50 sites. tools/report-plot draws the
 * samples as an SVG with gnuplot.
 *
 * Shared: the report (its stream and sampler thread) behind report_mutex;
 * the pause histogram, atomics written by the collector's callback.
 */
#include <rcgc.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOP_LIMIT 50
#define SAMPLES_PER_DOUBLING 1024

/* -------------------------------------------------------- Pause histogram */

/* Log-linear buckets: eight per power of two, so a percentile is known to
 * within 12.5 % (HdrHistogram's idea, at its coarsest). */
#define SUB_BUCKETS 8
#define BUCKETS (64 * SUB_BUCKETS)

static _Atomic uint64_t pause_buckets[BUCKETS];
static _Atomic uint64_t pause_count, pause_max;

static unsigned bucket_of(uint64_t ns) {
    if (ns < SUB_BUCKETS)
        return (unsigned)ns;
    unsigned exponent = 63u - (unsigned)__builtin_clzll(ns);
    unsigned sub = (unsigned)(ns >> (exponent - 3)) & (SUB_BUCKETS - 1);
    return exponent * SUB_BUCKETS + sub;
}

/* The largest value bucket @b holds. */
static uint64_t bucket_top(unsigned b) {
    if (b < SUB_BUCKETS)
        return b;
    unsigned exponent = b / SUB_BUCKETS, sub = b % SUB_BUCKETS;
    return ((uint64_t)(SUB_BUCKETS + sub + 1) << (exponent - 3)) - 1;
}

static void record_pause(enum rcgc_gc_phase phase, const rcgc_gc_info *info, void *arg) {
    (void)arg;
    if (phase != RCGC_GC_STOP)
        return;
    atomic_fetch_add_explicit(&pause_buckets[bucket_of(info->pause_ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pause_count, 1, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&pause_max, memory_order_relaxed);
    while (info->pause_ns > max &&
           !atomic_compare_exchange_weak_explicit(&pause_max, &max, info->pause_ns,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* The pause at quantile @q (0-1], as its bucket's top, capped by the max. */
static uint64_t pause_quantile(double q) {
    uint64_t count = atomic_load_explicit(&pause_count, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&pause_max, memory_order_relaxed);
    uint64_t wanted = (uint64_t)(q * (double)count + 0.999999), seen = 0;
    for (unsigned b = 0; b < BUCKETS && count > 0; b++) {
        seen += atomic_load_explicit(&pause_buckets[b], memory_order_relaxed);
        if (seen >= wanted)
            return bucket_top(b) < max ? bucket_top(b) : max;
    }
    return max;
}

/* ----------------------------------------------------------------- Report */

static pthread_mutex_t report_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t report_wake = PTHREAD_COND_INITIALIZER;
static FILE *report;            /* report_mutex */
static bool closing;            /* report_mutex */
static pthread_t sampler;       /* report_mutex */
static struct timespec started; /* report_mutex */
static unsigned interval_ms;    /* report_mutex */

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* One line ends: flushed, so it survives a kill. */
static void end_line(void) {
    fputs("}\n", report);
    fflush(report);
}

static void write_sample_locked(void) {
    rcgc_process_memory memory = {0};
    (void)rcgc_process_memory_get(&memory, 0);
    size_t traced = 0, traced_peak = 0;
    rcgc_trace_get_memory(&traced, &traced_peak);
    rcgc_gc_stats stats[RCGC_GENERATIONS];
    rcgc_get_stats(stats);
    fprintf(report,
            "{\"kind\":\"sample\",\"t\":%.3f,\"rss\":%zu,\"rss_anon\":%zu,\"swap\":%zu,"
            "\"traced\":%zu,\"collections\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
            seconds_since(&started), memory.rss, memory.rss_anon, memory.swap, traced,
            stats[0].collections, stats[1].collections, stats[2].collections);
    end_line();
}

static void *sample_until_closed(void *arg) {
    (void)arg;
    pthread_mutex_lock(&report_mutex);
    unsigned samples = 0;
    while (!closing) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        uint64_t ns = (uint64_t)deadline.tv_nsec + (uint64_t)interval_ms * 1000000u;
        deadline.tv_sec += (time_t)(ns / 1000000000u);
        deadline.tv_nsec = (long)(ns % 1000000000u);
        while (!closing && pthread_cond_timedwait(&report_wake, &report_mutex, &deadline) == 0) {
        }
        if (closing)
            break;
        write_sample_locked();
        if (++samples % SAMPLES_PER_DOUBLING == 0 && interval_ms < 3600u * 1000u)
            interval_ms *= 2;
    }
    pthread_mutex_unlock(&report_mutex);
    return NULL;
}

/* A string value, escaped for JSON. */
static void put_json_string(const char *text) {
    fputc('"', report);
    for (; text != NULL && *text != '\0'; text++) {
        unsigned char c = (unsigned char)*text;
        if (c == '"' || c == '\\')
            fprintf(report, "\\%c", c);
        else if (c < 0x20)
            fprintf(report, "\\u%04x", c);
        else
            fputc(c, report);
    }
    fputc('"', report);
}

static const char *program_name(char *buf, size_t size) {
    ssize_t length = readlink("/proc/self/exe", buf, size - 1);
    buf[length > 0 ? length : 0] = '\0';
    return buf;
}

int rcgc_report_open(const char *path, unsigned sample_interval_ms) {
    pthread_mutex_lock(&report_mutex);
    int status = -1;
    if (report != NULL) {
        errno = EBUSY;
        goto out;
    }
    FILE *file = fopen(path, "we");
    if (file == NULL)
        goto out;
    report = file;
    closing = false;
    interval_ms = sample_interval_ms != 0 ? sample_interval_ms : 100;
    clock_gettime(CLOCK_MONOTONIC, &started);
    char program[4096];
    fprintf(report, "{\"kind\":\"start\",\"pid\":%ld,\"program\":", (long)getpid());
    put_json_string(program_name(program, sizeof program));
    fprintf(report, ",\"interval_ms\":%u,\"tracing\":%s", interval_ms,
            rcgc_trace_is_tracing() ? "true" : "false");
    end_line();
    if (rcgc_callback_add(record_pause, NULL) != 0 ||
        pthread_create(&sampler, NULL, sample_until_closed, NULL) != 0) {
        (void)rcgc_callback_remove(record_pause, NULL);
        fclose(report);
        report = NULL;
        errno = ENOMEM;
        goto out;
    }
    status = 0;
out:
    pthread_mutex_unlock(&report_mutex);
    return status;
}

static void write_gc_locked(void) {
    rcgc_gc_stats stats[RCGC_GENERATIONS];
    rcgc_get_stats(stats);
    fputs(",\"gc\":{\"generations\":[", report);
    for (int g = 0; g < RCGC_GENERATIONS; g++)
        fprintf(report,
                "%s{\"collections\":%" PRIu64 ",\"collected\":%" PRIu64
                ",\"uncollectable\":%" PRIu64 ",\"total_pause_ns\":%" PRIu64
                ",\"max_pause_ns\":%" PRIu64 "}",
                g > 0 ? "," : "", stats[g].collections, stats[g].collected, stats[g].uncollectable,
                stats[g].total_pause_ns, stats[g].max_pause_ns);
    fprintf(report,
            "],\"pauses\":{\"count\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64
            ",\"p99_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 "},\"garbage\":%zu}",
            atomic_load_explicit(&pause_count, memory_order_relaxed), pause_quantile(0.5),
            pause_quantile(0.9), pause_quantile(0.99),
            atomic_load_explicit(&pause_max, memory_order_relaxed), rcgc_garbage_count());
}

static void write_memory_locked(void) {
    rcgc_process_memory memory = {0};
    (void)rcgc_process_memory_get(&memory, RCGC_MEMORY_USS);
    rcgc_memory_accounting rcgc = {0};
    (void)rcgc_memory_accounting_get(&rcgc, 0);
    fprintf(report,
            ",\"memory\":{\"rss\":%zu,\"rss_anon\":%zu,\"swap\":%zu,\"peak_rss\":%zu,\"uss\":%zu,"
            "\"pss\":%zu},\"rcgc\":{\"total\":%zu,\"arenas\":%zu,\"blocks_in_use\":%zu,"
            "\"blocks_free\":%zu,\"large\":%zu,\"overhead\":%zu,\"retained\":%zu,\"huge\":%zu,"
            "\"raw\":%zu}",
            memory.rss, memory.rss_anon, memory.swap, memory.peak_rss, memory.uss, memory.pss,
            rcgc.total, rcgc.arenas, rcgc.blocks_in_use, rcgc.blocks_free, rcgc.large,
            rcgc.overhead, rcgc.retained, rcgc.huge, rcgc.raw);
}

static void write_types_locked(void) {
    rcgc_type_count counts[TOP_LIMIT];
    bool attached = rcgc_thread_is_attached();
    if (!attached && rcgc_thread_attach() != 0)
        return;
    ptrdiff_t types = rcgc_most_common_types(counts, TOP_LIMIT);
    if (!attached)
        rcgc_thread_detach();
    fprintf(report, ",\"types\":%td,\"objects_by_type\":[", types < 0 ? 0 : types);
    for (ptrdiff_t i = 0; i < types && i < TOP_LIMIT; i++) {
        fputs(i > 0 ? ",{\"type\":" : "{\"type\":", report);
        put_json_string(counts[i].type->name);
        fprintf(report, ",\"count\":%zu,\"bytes\":%zu}", counts[i].count, counts[i].bytes);
    }
    fputc(']', report);
}

static void write_sites_locked(void) {
    rcgc_snapshot *snapshot = rcgc_trace_is_tracing() ? rcgc_trace_snapshot() : NULL;
    if (snapshot == NULL)
        return;
    static rcgc_trace_stat stats[TOP_LIMIT];
    ptrdiff_t sites = rcgc_snapshot_statistics(snapshot, RCGC_TRACE_BY_LINE, stats, TOP_LIMIT);
    rcgc_snapshot_free(snapshot);
    fputs(",\"allocation_sites\":[", report);
    for (ptrdiff_t i = 0; i < sites && i < TOP_LIMIT; i++) {
        char where[512];
        FILE *text = fmemopen(where, sizeof where, "w");
        if (text == NULL)
            break;
        if (stats[i].file != NULL)
            fprintf(text, "%s:%d", stats[i].file, stats[i].line);
        else if (stats[i].frame_count > 0)
            rcgc_trace_print_frame(text, stats[i].frames[0]);
        fputc('\0', text);
        fclose(text);
        where[sizeof where - 1] = '\0';
        fputs(i > 0 ? ",{\"site\":" : "{\"site\":", report);
        put_json_string(where);
        fprintf(report, ",\"size\":%zu,\"count\":%zu}", stats[i].size, stats[i].count);
    }
    fputc(']', report);
}

int rcgc_report_close(void) {
    pthread_mutex_lock(&report_mutex);
    if (report == NULL) {
        pthread_mutex_unlock(&report_mutex);
        errno = EINVAL;
        return -1;
    }
    closing = true;
    pthread_cond_broadcast(&report_wake);
    pthread_t thread = sampler;
    pthread_mutex_unlock(&report_mutex);
    pthread_join(thread, NULL);
    (void)rcgc_callback_remove(record_pause, NULL);
    pthread_mutex_lock(&report_mutex);
    fprintf(report, "{\"kind\":\"exit\",\"t\":%.3f", seconds_since(&started));
    write_memory_locked();
    write_gc_locked();
    write_types_locked();
    write_sites_locked();
    end_line();
    int status = ferror(report) ? -1 : 0;
    if (fclose(report) != 0)
        status = -1;
    report = NULL;
    pthread_mutex_unlock(&report_mutex);
    return status;
}
