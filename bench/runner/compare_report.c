/* bench/runner/compare_report.c - compare's output: the comparison table
 * on stdout (its format: bench/README.md) and the optional CSV lines for
 * plotting.
 *
 * Reads the finished struct impl array that compare.c filled and writes text;
 * owns no state and shares nothing (compare is single-threaded).
 */
#include "compare.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { COLS = 5, CELL = 64 };

/* One row's cells; a failed row fills only the name. */
static void row_cells(const struct impl *m, const struct impl *base, char cells[COLS][CELL]) {
    char lo[24], hi[24];
    snprintf(cells[0], CELL, "%s", m->name);
    if (m->state != IMPL_RUNNING)
        return;
    bench_format_number(cells[1], CELL, m->value.median);
    bench_format_number(lo, sizeof lo, m->value.p25);
    bench_format_number(hi, sizeof hi, m->value.p75);
    snprintf(cells[2], CELL, "(%s-%s)", lo, hi);
    snprintf(cells[3], CELL, "%.2fx", m->value.median / base->value.median);
    snprintf(cells[4], CELL, "%.1f", m->rss.median);
}

static void print_row(char cells[COLS][CELL], const size_t width[COLS]) {
    for (int c = 0; c < COLS - 1; c++)
        printf("%-*s  ", (int)width[c], cells[c]);
    printf("%s\n", cells[COLS - 1]);
}

void compare_report_table(const struct impl *impls, int count, const struct impl *base,
                          const struct unit *unit) {
    char heads[COLS][CELL] = {"impl", "", "(p25-p75)", "ratio", "peak RSS MiB"};
    snprintf(heads[1], CELL, "%s", unit->known ? unit->name : "result");
    /* "time ... lower = faster" only for times; a count or a size ratio
     * (false_sharing's lines, rss_after_free's MiB-kept) says "better". */
    bool is_time =
        unit->known && (strncmp(unit->name, "ns", 2) == 0 || strncmp(unit->name, "us", 2) == 0 ||
                        strncmp(unit->name, "ms", 2) == 0);
    if (base != NULL)
        snprintf(heads[3], CELL, "%s vs %s (%s)", is_time ? "time" : unit->name, base->name,
                 unit->lower_is_better ? (is_time ? "lower = faster" : "lower = better")
                                       : "higher = better");

    /* The baseline's row first, as the table format has it, then --allocators order. */
    int order[MAX_IMPLS], rows = 0;
    for (int i = 0; i < count; i++)
        if (&impls[i] == base)
            order[rows++] = i;
    for (int i = 0; i < count; i++)
        if (&impls[i] != base && impls[i].state != IMPL_SKIPPED)
            order[rows++] = i;

    char cells[MAX_IMPLS][COLS][CELL] = {{{0}}};
    size_t width[COLS];
    for (int c = 0; c < COLS; c++)
        width[c] = strlen(heads[c]);
    for (int k = 0; k < rows; k++) {
        row_cells(&impls[order[k]], base, cells[k]);
        for (int c = 0; c < COLS; c++)
            width[c] = strlen(cells[k][c]) > width[c] ? strlen(cells[k][c]) : width[c];
    }
    print_row(heads, width);
    for (int k = 0; k < rows; k++) {
        const struct impl *m = &impls[order[k]];
        if (m->state == IMPL_RUNNING) {
            print_row(cells[k], width);
            continue;
        }
        printf("%-*s  failed (%s)\n", (int)width[0], m->name, m->failure.failure);
        for (int t = 0; t < m->failure.tail_count; t++)
            printf("    | %s\n", m->failure.tail[t]);
        if (m->failure.tail_count == 0)
            printf("    | (no output)\n");
    }
}

/* CSV has no escapes but doubled quotes inside a quoted field (RFC 4180). */
static void csv_field(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Append one line per allocator that has numbers; a header when the file
 * is new, so a plotting script can read it by column name. */
int compare_report_csv(const char *path, const char *bench, const struct impl *impls, int count,
                       const struct impl *base) {
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    /* Where a fresh append stream starts is up to the C library; seek to
     * the end so that an existing file is not given a second header. */
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0)
        fprintf(f, "benchmark,impl,median,p25,p75,ratio,rss_mib\n");
    for (int i = 0; i < count; i++) {
        const struct impl *m = &impls[i];
        if (m->state != IMPL_RUNNING)
            continue;
        csv_field(f, bench);
        fprintf(f, ",%s,%.6g,%.6g,%.6g,%.4f,%.2f\n", m->name, m->value.median, m->value.p25,
                m->value.p75, m->value.median / base->value.median, m->rss.median);
    }
    return fclose(f) == 0 ? 0 : -1;
}
