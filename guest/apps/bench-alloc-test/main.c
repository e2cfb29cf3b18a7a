/*
 * bench-alloc-test, after alloc-test (mimalloc-bench `alloc-test`): ATEST_SLOTS slots in all,
 * split evenly over the harts (each hart has at least 16). Each of ATEST_OPS steps per hart
 * picks one of its slots with an 80/20 skew (80% of the picks fall on the first 20% of the
 * slots, uniformly within each part); an occupied slot is checked and freed, an empty one gets a
 * new block of 2^k + j bytes (k uniform in [2, ATEST_MAX_LOG), j uniform in [0, 2^k)), written
 * in full with memset and stamped. The remaining blocks are freed at the end. No block crosses
 * harts.
 *
 * Ops: every allocation and every free: ATEST_OPS steps (one op each) plus the final frees.
 */
#include <alloc/bench.h>

#ifndef ATEST_SLOTS
#define ATEST_SLOTS 2048
#endif
#ifndef ATEST_OPS
#define ATEST_OPS 3000
#endif
#ifndef ATEST_MAX_LOG
#define ATEST_MAX_LOG 10
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "alloc-test");
}
#else

#define ATEST_MIN_SHARE 16
static struct bench_block atest_slots[ATEST_SLOTS + MAX_HARTS * ATEST_MIN_SHARE];

static unsigned atest_pick(struct bench_rng *rng, unsigned share) {
    unsigned hot = share / 5 ? share / 5 : 1;
    if (bench_chance(rng, 80))
        return (unsigned)bench_below(rng, hot);
    return hot + (unsigned)bench_below(rng, share - hot);
}

int app_main(unsigned hart, unsigned nharts) {
    struct bench_rng rng;
    unsigned long ops = 0;
    unsigned share = ATEST_SLOTS / nharts;
    if (share < ATEST_MIN_SHARE)
        share = ATEST_MIN_SHARE;
    struct bench_block *slots = &atest_slots[hart * share];
    bench_rng_init(&rng, hart);
    bench_init(hart);
    bench_begin();
    for (unsigned i = 0; i < ATEST_OPS; i++) {
        struct bench_block *b = &slots[atest_pick(&rng, share)];
        if (b->p) {
            bench_verify(b, "alloc-test");
            uk_free(b->p);
            b->p = NULL;
        } else {
            unsigned k = (unsigned)bench_range(&rng, 2, ATEST_MAX_LOG - 1);
            b->size = (uint32_t)((1UL << k) + bench_below(&rng, 1UL << k));
            b->stamp = (uint32_t)bench_rand(&rng);
            b->p = uk_malloc(b->size);
            if (b->p) {
                memset(b->p, (int)(b->stamp >> 24), b->size);
                bench_stamp(b);
            } else {
                bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", (unsigned)b->size);
            }
        }
        ops++;
    }
    for (unsigned i = 0; i < share; i++) {
        struct bench_block *b = &slots[i];
        if (!b->p)
            continue;
        bench_verify(b, "alloc-test");
        uk_free(b->p);
        b->p = NULL;
        ops++;
    }
    bench_end(ops);
    return bench_finish(hart, nharts, "alloc-test");
}
#endif
