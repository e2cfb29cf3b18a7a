/*
 * bench-cache-thrash, after Hoard's cache-thrash (mimalloc-bench `cache-thrash`): active false
 * sharing. Every hart CTHRASH_ITERS times allocates a CTHRASH_SIZE-byte object, writes every
 * byte of it CTHRASH_REPS / N times (at least once; volatile stores), checks the last values and
 * frees it. An allocator that carves small objects of different harts from one cache line makes
 * the harts' writes fight over that line. (bench-cache-scratch is the same loop after a
 * hand-off.)
 *
 * Ops: every allocation and free: 2 * CTHRASH_ITERS per hart.
 */
#include <alloc/bench.h>

#ifndef CTHRASH_ITERS
#define CTHRASH_ITERS 500
#endif
#ifndef CTHRASH_SIZE
#define CTHRASH_SIZE 1
#endif
#ifndef CTHRASH_REPS
#define CTHRASH_REPS 2000
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "cache-thrash");
}
#else

int app_main(unsigned hart, unsigned nharts) {
    unsigned long ops = 0;
    unsigned long reps = CTHRASH_REPS / nharts ? CTHRASH_REPS / nharts : 1;
    bench_init(hart);
    bench_begin();
    for (unsigned i = 0; i < CTHRASH_ITERS; i++) {
        volatile unsigned char *p = uk_malloc(CTHRASH_SIZE);
        ops++;
        if (!p) {
            bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", CTHRASH_SIZE);
            continue;
        }
        for (unsigned long r = 0; r < reps; r++)
            for (unsigned k = 0; k < CTHRASH_SIZE; k++)
                p[k] = (unsigned char)(r + k + hart);
        for (unsigned k = 0; k < CTHRASH_SIZE; k++) {
            if (p[k] != (unsigned char)(reps - 1 + k + hart)) {
                bench_fail(BENCH_EXIT_CORRUPT, "cache-thrash: object %p changed", (void *)p);
                break;
            }
        }
        uk_free((void *)p);
        ops++;
    }
    bench_end(ops);
    return bench_finish(hart, nharts, "cache-thrash");
}
#endif
