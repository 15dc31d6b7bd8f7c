/* tests/support/resident.h - how much of a range is resident, measured
 * with mincore(2): exact for the pages asked about, whatever the rest of
 * the process (or a sanitizer's shadow memory) holds. */
#ifndef RCGC_TEST_RESIDENT_H
#define RCGC_TEST_RESIDENT_H

#include <stddef.h>

/* Resident pages among those that [addr, addr + size) touches; aborts if
 * mincore fails (the range must be mapped). */
size_t resident_pages(const void *addr, size_t size);

#endif /* RCGC_TEST_RESIDENT_H */
