/* bench/gc/gc_bench.c - the collector benchmarks' shared parts: the node
 * class, sample arrays, tables and CSV lines, and the CPython runner.
 *
 * Owns the --csv and --python settings (set once by the main thread while
 * it parses options) and the Python version string. Nothing here is shared
 * between threads except the node class, which rcgc only reads (it is
 * uncounted: nothing writes it).
 */
#include "gc_bench.h"

#include "bench_util.h"

#include <string.h>

#ifndef RCGC_BENCH_DIR
#define RCGC_BENCH_DIR "bench/gc"
#endif
#ifndef RCGC_SOURCE_DIR
#define RCGC_SOURCE_DIR "."
#endif

/* ------------------------------------------------------------ Object types */

MODEL_SLOTS_CLASS(gc_bench_node_class, "node", 2, MODEL_UNCOUNTED);

rcgc_object *gc_bench_make_tree(int depth) {
    if (depth <= 0)
        return gc_bench_node_new();
    rcgc_object *left = gc_bench_make_tree(depth - 1);
    rcgc_object *right = gc_bench_make_tree(depth - 1);
    rcgc_object *node = gc_bench_node_new();
    model_slot_fill(node, 0, left);
    model_slot_fill(node, 1, right);
    return node;
}

rcgc_object *gc_bench_tuple_new(size_t len) {
    rcgc_object *tuple = model_tuple_new(len);
    if (tuple == NULL) {
        perror("gc_bench: model_tuple_new");
        exit(1);
    }
    return tuple;
}

static int count_visit(rcgc_object *obj, void *arg) {
    (void)obj;
    ++*(size_t *)arg;
    return 0;
}

size_t gc_bench_tracked(void) {
    size_t count = 0;
    if (rcgc_get_objects(-1, count_visit, &count) < 0) {
        perror("gc_bench: rcgc_get_objects");
        exit(1);
    }
    return count;
}

/* ---------------------------------------------------------------- Samples */

void gc_bench_reserve(struct gc_bench_samples *s, size_t count) {
    if (s->count + count <= s->cap)
        return;
    size_t cap = s->cap < 16 ? 16 : s->cap;
    while (cap < s->count + count)
        cap *= 2;
    double *v = realloc(s->v, cap * sizeof *v);
    if (v == NULL) {
        perror("gc_bench: realloc");
        exit(1);
    }
    s->v = v;
    s->cap = cap;
}

void gc_bench_push(struct gc_bench_samples *s, double value) {
    gc_bench_reserve(s, 1);
    s->v[s->count++] = value;
}

static int double_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double gc_bench_quantile(struct gc_bench_samples *s, double q) {
    if (s->count == 0)
        return 0.0;
    qsort(s->v, s->count, sizeof *s->v, double_cmp);
    return bench_stats_quantile(s->v, s->count, q);
}

struct bench_summary gc_bench_summary(struct gc_bench_samples *s) {
    struct bench_summary out = {0, 0, 0};
    if (s->count > 0) {
        qsort(s->v, s->count, sizeof *s->v, double_cmp);
        out.median = bench_stats_quantile(s->v, s->count, 0.50);
        out.p25 = bench_stats_quantile(s->v, s->count, 0.25);
        out.p75 = bench_stats_quantile(s->v, s->count, 0.75);
    }
    return out;
}

void gc_bench_write_distribution(const char *path, const char *what, struct gc_bench_samples *s,
                                 double divisor) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return;
    }
    (void)gc_bench_quantile(s, 0.5); /* sorts */
    fprintf(f, "# %s\n", what);
    size_t step = s->count / 1000 + 1;
    for (size_t i = 0; i < s->count; i += step)
        fprintf(f, "%.6g %.6f\n", s->v[i] / divisor, (double)(i + 1) / (double)s->count);
    if (s->count > 0)
        fprintf(f, "%.6g 1\n", s->v[s->count - 1] / divisor);
    fclose(f);
}

double gc_bench_max(const struct gc_bench_samples *s) {
    double max = 0;
    for (size_t i = 0; i < s->count; i++)
        max = s->v[i] > max ? s->v[i] : max;
    return max;
}

double gc_bench_sum(const struct gc_bench_samples *s) {
    double sum = 0;
    for (size_t i = 0; i < s->count; i++)
        sum += s->v[i];
    return sum;
}

/* ----------------------------------------------------------------- Tables */

static const char *csv_path;
static const char *python_cmd = "python3";
static long long boehm_markers;
char gc_bench_python_version[32] = "3";

void gc_bench_format_count(char *buf, size_t size, long long n) {
    if (n != 0 && n % 1000000 == 0)
        snprintf(buf, size, "%lldM", n / 1000000);
    else if (n != 0 && n % 1000 == 0)
        snprintf(buf, size, "%lldk", n / 1000);
    else
        snprintf(buf, size, "%lld", n);
}

void gc_bench_format_cell(char *buf, size_t size, struct bench_summary s, const char *unit) {
    char median[32], low[32], high[32];
    bench_format_number(median, sizeof median, s.median);
    bench_format_number(low, sizeof low, s.p25);
    bench_format_number(high, sizeof high, s.p75);
    snprintf(buf, size, "%s%s (%s-%s)", median, unit, low, high);
}

const char *gc_bench_commit(void) {
    static char commit[64];
    if (commit[0] != '\0')
        return commit;
    snprintf(commit, sizeof commit, "unknown");
    FILE *git = popen("git -C '" RCGC_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null", "r");
    if (git != NULL) {
        char line[64];
        if (fgets(line, sizeof line, git) != NULL && line[0] != '\n') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(commit, sizeof commit, "%s", line);
        }
        pclose(git);
    }
    return commit;
}

/* RFC 4180: the field in quotes, inner quotes doubled (compare_report.c). */
static void csv_field(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void gc_bench_csv(const char *bench, const char *impl, struct bench_summary s, double ratio) {
    if (csv_path == NULL)
        return;
    FILE *f = fopen(csv_path, "a");
    if (f == NULL) {
        perror(csv_path);
        return;
    }
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0)
        fprintf(f, "benchmark,impl,median,p25,p75,ratio,rss_mib\n");
    csv_field(f, bench);
    fputc(',', f);
    csv_field(f, impl);
    fprintf(f, ",%.6g,%.6g,%.6g,%.4f,\n", s.median, s.p25, s.p75, ratio);
    if (fclose(f) != 0)
        perror(csv_path);
}

enum { COLS = 5, CELL = 96 };

void gc_bench_table(const struct gc_bench_table *t, struct gc_bench_row *rows, int count,
                    int baseline) {
    char cells[16][COLS][CELL];
    struct bench_summary sum[16];
    size_t runs = 0;
    if (count > 16)
        count = 16;
    if (baseline >= 0 && rows[baseline].samples.count == 0)
        baseline = -1;
    for (int r = 0; r < count; r++) {
        sum[r] = gc_bench_summary(&rows[r].samples);
        runs = rows[r].samples.count > runs ? rows[r].samples.count : runs;
    }
    /* "time" for a duration, the unit's own name for a rate or a count. */
    bool is_time = strncmp(t->unit, "ns", 2) == 0 || strncmp(t->unit, "us", 2) == 0 ||
                   strncmp(t->unit, "ms", 2) == 0;
    char heads[COLS][CELL] = {"impl", "", "(p25-p75)", "runs", ""};
    snprintf(heads[1], CELL, "%s", t->unit);
    if (baseline >= 0)
        snprintf(heads[4], CELL, "%s vs %s (%s)", is_time ? "time" : t->unit, rows[baseline].name,
                 t->lower_is_better ? (is_time ? "lower = faster" : "lower = better")
                                    : "higher = better");
    size_t width[COLS] = {0};
    for (int c = 0; c < COLS; c++)
        width[c] = strlen(heads[c]);
    for (int r = 0; r < count; r++) {
        char lo[32], hi[32];
        memset(cells[r], 0, sizeof cells[r]);
        snprintf(cells[r][0], CELL, "%s", rows[r].name);
        if (rows[r].samples.count > 0) {
            bench_format_number(cells[r][1], CELL, sum[r].median);
            bench_format_number(lo, sizeof lo, sum[r].p25);
            bench_format_number(hi, sizeof hi, sum[r].p75);
            snprintf(cells[r][2], CELL, "(%s-%s)", lo, hi);
            snprintf(cells[r][3], CELL, "%zu", rows[r].samples.count);
            if (baseline >= 0)
                snprintf(cells[r][4], CELL, "%.2fx", sum[r].median / sum[baseline].median);
        }
        for (int c = 0; c < COLS - 1; c++)
            width[c] = strlen(cells[r][c]) > width[c] ? strlen(cells[r][c]) : width[c];
    }
    printf("%s, median of %zu, commit %s\n", t->title, runs, gc_bench_commit());
    for (int c = 0; c < COLS - 1; c++)
        printf("%-*s  ", (int)width[c], heads[c]);
    printf("%s\n", heads[COLS - 1]);
    for (int r = 0; r < count; r++) {
        if (rows[r].samples.count == 0) {
            printf("%-*s  %s\n", (int)width[0], rows[r].name,
                   rows[r].skipped ? rows[r].skipped : "no result");
            continue;
        }
        for (int c = 0; c < COLS - 1; c++)
            printf("%-*s  ", (int)width[c], cells[r][c]);
        printf("%s\n", cells[r][COLS - 1]);
        gc_bench_csv(t->title, rows[r].name, sum[r],
                     baseline >= 0 ? sum[r].median / sum[baseline].median : 0.0);
    }
    fflush(stdout);
}

/* Shell-quoted as needed, so that the line pastes back as it ran. */
void gc_bench_reproduce(int argc, char **argv) {
    printf("reproduce:");
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] != '\0' && strpbrk(argv[i], " '\"$\\*?;&|<>()") == NULL)
            printf(" %s", argv[i]);
        else {
            printf(" '");
            for (const char *c = argv[i]; *c != '\0'; c++)
                if (*c == '\'')
                    printf("'\\''");
                else
                    putchar(*c);
            printf("'");
        }
    }
    printf("\n");
    fflush(stdout);
}

/* ------------------------------------------------------------- Options */

bool gc_bench_common_opt(int argc, char **argv, int *i) {
    if (bench_opt_int(argc, argv, i, "--boehm-markers", 0, 64, &boehm_markers))
        return true;
    const char **target = NULL;
    if (strcmp(argv[*i], "--csv") == 0)
        target = &csv_path;
    else if (strcmp(argv[*i], "--python") == 0)
        target = &python_cmd;
    else
        return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s wants a value\n", argv[0], argv[*i]);
        exit(2);
    }
    *target = argv[++*i];
    return true;
}

/* ---------------------------------------------------------------- Boehm */

const char *gc_bench_boehm_init(void) {
#if RCGC_BENCH_HAVE_BOEHM
    static char label[64];
    if (label[0] != '\0')
        return label;
    if (boehm_markers > 0)
        GC_set_markers_count((unsigned)boehm_markers);
    GC_INIT();
    GC_allow_register_threads();
    unsigned version = GC_get_version();
    snprintf(label, sizeof label, "Boehm %u.%u.%u (%d marker%s)", version >> 16,
             (version >> 8) & 0xff, version & 0xff, GC_get_parallel() + 1,
             GC_get_parallel() > 0 ? "s" : "");
    return label;
#else
    return NULL;
#endif
}

/* -------------------------------------------------------- CPython peers */

int gc_bench_python(const char *script, const char *args, const char *const *keys,
                    struct gc_bench_samples *out, int nkeys, const char **why) {
    if (strcmp(python_cmd, "none") == 0 || python_cmd[0] == '\0') {
        *why = "skipped: --python none";
        return -1;
    }
    char command[4096];
    snprintf(command, sizeof command, "%s '%s/%s' %s", python_cmd, RCGC_BENCH_DIR, script, args);
    fflush(stdout);
    FILE *pipe = popen(command, "r");
    if (pipe == NULL) {
        *why = "skipped: cannot start python3";
        return -1;
    }
    char line[512];
    while (fgets(line, sizeof line, pipe) != NULL) {
        char key[64];
        double value;
        if (sscanf(line, "bench-sample %63s %lf", key, &value) == 2) {
            for (int k = 0; k < nkeys; k++)
                if (strcmp(key, keys[k]) == 0)
                    gc_bench_push(&out[k], value);
        } else if (sscanf(line, "bench-python %31s", gc_bench_python_version) == 1) {
            continue;
        } else {
            fputs(line, stderr);
        }
    }
    int status = pclose(pipe);
    if (status != 0) {
        fprintf(stderr, "gc_bench: '%s' exited with status %d\n", command, status);
        *why = "failed: python exited non-zero (see stderr)";
        return -1;
    }
    return 0;
}
