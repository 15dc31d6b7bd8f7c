/* examples/consumer/main.c - an outside program linked against an installed
 * rcgc. Prints "ok" when the headers and the library agree and work. */
#include <rcgc.h>

#include <stdio.h>
#include <string.h>

int main(void) {
    if (strcmp(rcgc_version_string(), RCGC_VERSION_STRING) != 0) {
        fprintf(stderr, "headers %s, library %s\n", RCGC_VERSION_STRING, rcgc_version_string());
        return 1;
    }
    char *zero = rcgc_raw_malloc(0);
    if (zero == NULL)
        return 1;
    rcgc_raw_free(zero);
    puts("ok");
    return 0;
}
