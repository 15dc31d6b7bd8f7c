/* examples/embedding.c - the README's embedding example, built and run by
 * ctest so the README cannot drift from the API. */
#include <rcgc.h>
#include <errno.h>
#include <stdio.h>

static void on_fatal(const char *message, void *arg) {
    fprintf(arg, "host: %s\n", message); /* then rcgc aborts */
}

int main(void) {
    rcgc_set_fatal_handler(on_fatal, stderr);

    char *name = rcgc_raw_malloc(0);            /* unique, never NULL for 0 */
    rcgc_fault_inject(RCGC_FAULT_MALLOC, 0, 1); /* prove the OOM path works */
    if (rcgc_raw_malloc(64) == NULL && errno == ENOMEM)
        puts("out-of-memory handled");
    rcgc_fault_clear();
    rcgc_raw_free(name);
    rcgc_print_raw_stats(stdout);
    return 0;
}
