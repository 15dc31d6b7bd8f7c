/* tests/secure_corrupt.c - a program with a write after free, run by
 * check_secure.sh under librcgc-malloc-secure.so, which must stop it with a
 * report instead of handing out the forged pointer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *first = malloc(64);
    char *second = malloc(64);
    free(second);
    free(first);
    /* A dangling write over the freed block's first word: the free-list
     * link. Here, a pointer to a stack buffer an attacker would like malloc
     * to return. Through a volatile pointer so the compiler keeps it. */
    char target[64];
    uintptr_t forged = (uintptr_t)target;
    char *volatile dangling = first;
    memcpy(dangling, &forged, sizeof forged);
    /* The freed blocks are handed out again once the blocks carved before
     * them are used up: allocate until the forged link is followed. */
    for (int i = 0; i < 4096; i++) {
        char *got = malloc(64);
        if (got == target) {
            printf("malloc returned the stack buffer %p\n", (void *)target);
            return 3;
        }
    }
    printf("4096 allocations never reached the freed block\n");
    return 0;
}
