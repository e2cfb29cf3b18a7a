/*
 * bench-larson, after Larson and Krishnan's server benchmark (mimalloc-bench `larson`): each
 * hart owns an array of LARSON_CHUNKS blocks of LARSON_MIN..LARSON_MAX bytes. A round is
 * LARSON_STEPS steps of "free a random block of the array, allocate a new one of random size in
 * its place"; at the end of a round the arrays rotate, hart i's array going to hart (i+1) mod N
 * (larson's successor threads that inherit the array), so blocks allocated by one hart are freed
 * by another. Every block carries a stamp (alloc/bench.h) verified before it is freed.
 *
 * Ops: the LARSON_CHUNKS first allocations, every free and allocation of a step (2 per step),
 * and the final frees: 2 * LARSON_CHUNKS + 2 * LARSON_ROUNDS * LARSON_STEPS per hart.
 */
#include <alloc/bench.h>

#ifndef LARSON_CHUNKS
#define LARSON_CHUNKS 128
#endif
#ifndef LARSON_ROUNDS
#define LARSON_ROUNDS 8
#endif
#ifndef LARSON_STEPS
#define LARSON_STEPS 256
#endif
#ifndef LARSON_MIN
#define LARSON_MIN 8
#endif
#ifndef LARSON_MAX
#define LARSON_MAX 1000
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "larson");
}
#else

/* One array per hart; in round r hart h works on array (h - r) mod N. */
static struct bench_block larson_arrays[MAX_HARTS][LARSON_CHUNKS];

static unsigned long larson_new(struct bench_block *b, struct bench_rng *rng) {
    uint32_t size = (uint32_t)bench_range(rng, LARSON_MIN, LARSON_MAX);
    b->p = uk_malloc(size);
    b->size = size;
    b->stamp = (uint32_t)bench_rand(rng);
    if (!b->p) {
        bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", (unsigned)size);
        return 1;
    }
    bench_stamp(b);
    return 1;
}

int app_main(unsigned hart, unsigned nharts) {
    struct bench_rng rng;
    unsigned long ops = 0;
    bench_rng_init(&rng, hart);
    bench_init(hart);
    bench_begin();
    for (unsigned i = 0; i < LARSON_CHUNKS; i++)
        ops += larson_new(&larson_arrays[hart][i], &rng);
    for (unsigned r = 0; r < LARSON_ROUNDS; r++) {
        barrier_all(); /* the previous owner is done with the array we take */
        struct bench_block *array = larson_arrays[(hart + nharts - r % nharts) % nharts];
        for (unsigned s = 0; s < LARSON_STEPS; s++) {
            struct bench_block *b = &array[bench_below(&rng, LARSON_CHUNKS)];
            ops += bench_free_slot(b, "larson");
            ops += larson_new(b, &rng);
        }
    }
    barrier_all();
    struct bench_block *array = larson_arrays[(hart + nharts - LARSON_ROUNDS % nharts) % nharts];
    for (unsigned i = 0; i < LARSON_CHUNKS; i++)
        ops += bench_free_slot(&array[i], "larson");
    bench_end(ops);
    return bench_finish(hart, nharts, "larson");
}
#endif
