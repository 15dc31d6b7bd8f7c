/* bench/alloc/alloc_burst.c - the rate of a burst: --count blocks of --size
 * bytes allocated (and written), then all freed in allocation order.
 *
 * The shape of a runtime building a large container of small objects and
 * dropping it whole (a list of 10 M ints made and discarded): nothing is
 * reused while the burst grows, so the allocator's cost of carving fresh
 * memory, taking pools and faulting pages is what is timed, and then the
 * cost of emptying and giving back every pool. Single-threaded; --rounds
 * repeats the burst in one process, which shows what an allocator that
 * keeps memory gains the second time and one that returns it pays.
 * Prints one bench-result: ns per block (one malloc and one free), over
 * every round; the per-phase times go on an info line.
 */
#include "bench_util.h"

#include <limits.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    long long count = 10000000, size = 32, rounds = 1, seed = 1;
    for (int i = 1; i < argc; i++)
        if (!bench_opt_int(argc, argv, &i, "--count", 1, 1LL << 32, &count) &&
            !bench_opt_int(argc, argv, &i, "--size", 1, 1 << 20, &size) &&
            !bench_opt_int(argc, argv, &i, "--rounds", 1, 1000, &rounds) &&
            !bench_opt_int(argc, argv, &i, "--seed", 0, LLONG_MAX, &seed))
            bench_usage_error(argv[0], argv[i]);

    /* The pointer array comes from mmap, not malloc, and is written through
     * before the clock starts: its page faults are not the allocator's. */
    size_t array_bytes = (size_t)count * sizeof(unsigned char *);
    unsigned char **ptrs = mmap(NULL, array_bytes, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ptrs == MAP_FAILED) {
        perror("alloc_burst: mmap of the pointer array");
        return 1;
    }
    memset(ptrs, 0, array_bytes);

    uint64_t malloc_ns = 0, free_ns = 0;
    unsigned sum = 0;
    for (long long round = 0; round < rounds; round++) {
        uint64_t t0 = bench_now_ns();
        for (long long i = 0; i < count; i++) {
            unsigned char *p = malloc((size_t)size);
            if (p == NULL) {
                fprintf(stderr, "alloc_burst: malloc failed at block %lld\n", i);
                return 1;
            }
            /* The first and last byte, as a runtime writes an object's
             * header and its last field: an allocator handing out memory
             * not yet faulted in pays for it here, as the host would. */
            p[0] = (unsigned char)(i ^ seed);
            p[size - 1] = (unsigned char)round;
            ptrs[i] = p;
        }
        uint64_t t1 = bench_now_ns();
        for (long long i = 0; i < count; i++) {
            sum += ptrs[i][0]; /* read before free: the writes stay live */
            free(ptrs[i]);
        }
        uint64_t t2 = bench_now_ns();
        malloc_ns += t1 - t0;
        free_ns += t2 - t1;
    }
    munmap(ptrs, array_bytes);

    double blocks = (double)count * (double)rounds;
    printf("alloc_burst: %lld blocks of %lld B, %lld rounds, seed %lld, checksum %u\n", count, size,
           rounds, seed, sum);
    printf("alloc_burst: malloc+write %.1f ns/block, free %.1f ns/block (%.2f M blocks/s)\n",
           (double)malloc_ns / blocks, (double)free_ns / blocks,
           blocks * 1e3 / (double)(malloc_ns + free_ns));
    bench_result((double)(malloc_ns + free_ns) / blocks, "ns/block", true);
    return 0;
}
