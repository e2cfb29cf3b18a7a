/*
 * bench-glibc-thread, after glibc's benchtests/bench-malloc-thread (mimalloc-bench
 * `glibc-thread`): every hart has a private working set of GTHREAD_SLOTS slots, empty at first.
 * Each of GTHREAD_ITERS steps picks a random slot, frees its block (checking its stamp) if
 * there is one and allocates a new block of GTHREAD_MIN..GTHREAD_MAX bytes in its place; sizes
 * have an inverse-square density (s = 1 / (1/min - u (1/min - 1/max)), u uniform), so most
 * blocks are small and a few are tens of KiB. The original runs for a fixed time; this runs a
 * fixed number of steps. No block crosses harts. The working set is freed at the end.
 *
 * Ops: every allocation and every free (of a non-empty slot).
 */
#include <alloc/bench.h>

#ifndef GTHREAD_SLOTS
#define GTHREAD_SLOTS 128
#endif
#ifndef GTHREAD_ITERS
#define GTHREAD_ITERS 2000
#endif
#ifndef GTHREAD_MIN
#define GTHREAD_MIN 4
#endif
#ifndef GTHREAD_MAX
#define GTHREAD_MAX 32768
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "glibc-thread");
}
#else

static struct bench_block gthread_slots[MAX_HARTS][GTHREAD_SLOTS];

/* Inverse-square density on [GTHREAD_MIN, GTHREAD_MAX] by inversion, in 32.32 fixed point. */
static uint32_t gthread_size(struct bench_rng *rng) {
    uint64_t u = bench_rand(rng) >> 32;
    uint64_t num = ((uint64_t)GTHREAD_MIN * GTHREAD_MAX) << 32;
    uint64_t den = ((uint64_t)GTHREAD_MAX << 32) - u * (GTHREAD_MAX - GTHREAD_MIN);
    uint64_t s = num / den;
    return (uint32_t)(s < GTHREAD_MIN ? GTHREAD_MIN : s > GTHREAD_MAX ? GTHREAD_MAX : s);
}

int app_main(unsigned hart, unsigned nharts) {
    struct bench_rng rng;
    unsigned long ops = 0;
    struct bench_block *slots = gthread_slots[hart];
    bench_rng_init(&rng, hart);
    bench_init(hart);
    bench_begin();
    for (unsigned i = 0; i < GTHREAD_ITERS; i++) {
        struct bench_block *b = &slots[bench_below(&rng, GTHREAD_SLOTS)];
        ops += bench_free_slot(b, "glibc-thread");
        b->size = gthread_size(&rng);
        b->stamp = (uint32_t)bench_rand(&rng);
        b->p = uk_malloc(b->size);
        ops++;
        if (b->p)
            bench_stamp(b);
        else
            bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", (unsigned)b->size);
    }
    for (unsigned i = 0; i < GTHREAD_SLOTS; i++)
        ops += bench_free_slot(&slots[i], "glibc-thread");
    bench_end(ops);
    return bench_finish(hart, nharts, "glibc-thread");
}
#endif
