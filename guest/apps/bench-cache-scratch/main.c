/*
 * bench-cache-scratch, after Hoard's cache-scratch (mimalloc-bench `cache-scratch`): passive
 * false sharing. Before the timed part hart 0 allocates one CSCRATCH_SIZE-byte object per hart,
 * all next to each other, and writes the hart's number into it. Each hart checks and frees the
 * object it was handed, then CSCRATCH_ITERS times allocates a CSCRATCH_SIZE-byte object, writes
 * every byte of it CSCRATCH_REPS / N times (at least once; volatile stores), checks the last
 * values and frees it. An allocator that gives the handed-over memory back to the hart that
 * freed it puts harts' objects in one cache line.
 *
 * Ops: the free of the handed object and every allocation and free of the loop:
 * 1 + 2 * CSCRATCH_ITERS per hart (hart 0's setup allocations are not counted).
 */
#include <alloc/bench.h>

#ifndef CSCRATCH_ITERS
#define CSCRATCH_ITERS 500
#endif
#ifndef CSCRATCH_SIZE
#define CSCRATCH_SIZE 1
#endif
#ifndef CSCRATCH_REPS
#define CSCRATCH_REPS 2000
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "cache-scratch");
}
#else

unsigned char *cscratch_handed[MAX_HARTS];

int app_main(unsigned hart, unsigned nharts) {
    unsigned long ops = 0;
    unsigned long reps = CSCRATCH_REPS / nharts ? CSCRATCH_REPS / nharts : 1;
    bench_init(hart);
    if (hart == 0) {
        for (unsigned h = 0; h < nharts; h++) {
            cscratch_handed[h] = uk_malloc(CSCRATCH_SIZE);
            if (cscratch_handed[h])
                memset(cscratch_handed[h], (int)h, CSCRATCH_SIZE);
            else
                bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", CSCRATCH_SIZE);
        }
    }
    barrier_all();
    bench_begin();
    unsigned char *handed = cscratch_handed[hart];
    if (handed) {
        for (unsigned k = 0; k < CSCRATCH_SIZE; k++) {
            if (handed[k] != (unsigned char)hart) {
                bench_fail(BENCH_EXIT_CORRUPT, "cache-scratch: handed object %p changed", handed);
                break;
            }
        }
        uk_free(handed);
        ops++;
    }
    for (unsigned i = 0; i < CSCRATCH_ITERS; i++) {
        volatile unsigned char *p = uk_malloc(CSCRATCH_SIZE);
        ops++;
        if (!p) {
            bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", CSCRATCH_SIZE);
            continue;
        }
        for (unsigned long r = 0; r < reps; r++)
            for (unsigned k = 0; k < CSCRATCH_SIZE; k++)
                p[k] = (unsigned char)(r + k + hart);
        for (unsigned k = 0; k < CSCRATCH_SIZE; k++) {
            if (p[k] != (unsigned char)(reps - 1 + k + hart)) {
                bench_fail(BENCH_EXIT_CORRUPT, "cache-scratch: object %p changed", (void *)p);
                break;
            }
        }
        uk_free((void *)p);
        ops++;
    }
    bench_end(ops);
    return bench_finish(hart, nharts, "cache-scratch");
}
#endif
