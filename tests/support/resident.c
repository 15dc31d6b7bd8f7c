/* tests/support/resident.c - resident_pages(), shared by the raw layer's
 * and the allocator's tests. */
#include "support/resident.h"

#include <rcgc/raw.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

size_t resident_pages(const void *addr, size_t size) {
    size_t page = rcgc_page_size();
    uintptr_t first = (uintptr_t)addr & ~(uintptr_t)(page - 1);
    size_t pages = ((uintptr_t)addr + size - first + page - 1) / page;
    unsigned char *vec = malloc(pages);
    if (vec == NULL || mincore((void *)first, pages * page, vec) != 0) {
        perror("resident_pages: mincore");
        abort();
    }
    size_t resident = 0;
    for (size_t i = 0; i < pages; i++)
        resident += vec[i] & 1u;
    free(vec);
    return resident;
}
