/*
 * bench-threadtest, after Hoard's threadtest: THREADTEST_OBJECTS objects of THREADTEST_SIZE
 * bytes are split over the harts (a fixed total, as in the original); in each of
 * THREADTEST_ITERS iterations every hart allocates its share, stamping each object, then checks
 * and frees them in allocation order. No block crosses harts.
 *
 * Ops: every allocation and every free: 2 * THREADTEST_ITERS * (THREADTEST_OBJECTS / N) per hart
 * (at least one object per hart).
 */
#include <alloc/bench.h>

#ifndef THREADTEST_OBJECTS
#define THREADTEST_OBJECTS 1024
#endif
#ifndef THREADTEST_ITERS
#define THREADTEST_ITERS 6
#endif
#ifndef THREADTEST_SIZE
#define THREADTEST_SIZE 8
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "threadtest");
}
#else

/* Every hart's share lives in its own slice of one array (one object per hart at least). */
static struct bench_block threadtest_objects[THREADTEST_OBJECTS + MAX_HARTS];

int app_main(unsigned hart, unsigned nharts) {
    struct bench_rng rng;
    unsigned long ops = 0;
    unsigned share = THREADTEST_OBJECTS / nharts ? THREADTEST_OBJECTS / nharts : 1;
    struct bench_block *mine = &threadtest_objects[hart * share];
    bench_rng_init(&rng, hart);
    bench_init(hart);
    bench_begin();
    for (unsigned it = 0; it < THREADTEST_ITERS; it++) {
        for (unsigned i = 0; i < share; i++) {
            struct bench_block *b = &mine[i];
            b->size = THREADTEST_SIZE;
            b->stamp = (uint32_t)bench_rand(&rng);
            b->p = uk_malloc(THREADTEST_SIZE);
            ops++;
            if (b->p)
                bench_stamp(b);
            else
                bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", THREADTEST_SIZE);
        }
        for (unsigned i = 0; i < share; i++) {
            struct bench_block *b = &mine[i];
            if (!b->p)
                continue;
            bench_verify(b, "threadtest");
            uk_free(b->p);
            ops++;
        }
    }
    bench_end(ops);
    return bench_finish(hart, nharts, "threadtest");
}
#endif
