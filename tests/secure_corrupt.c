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
    char *a = malloc(64);
    char *b = malloc(64);
    printf("got %p and %p; the stack buffer is at %p\n", (void *)a, (void *)b, (void *)target);
    return b == target ? 3 : 0;
}
