/*
 * bench-mstress, after mimalloc's test-stress (mimalloc-bench `mstress`). In each of
 * MSTRESS_ROUNDS rounds every hart makes MSTRESS_ALLOCS short-lived and MSTRESS_ALLOCS / 2
 * retained allocations with uk_calloc: 2^k words, k uniform in [0, 5) (retained: [0, 7)), one in
 * a hundred 100 times larger. Each block is filled with a pattern (word i: (n - i) ^ address ^
 * cookie, n words) that is verified word by word before it is freed. After each allocation,
 * with probability 66% a random short-lived block is freed, and with probability 25% a random
 * one is swapped (atomic exchange) with one of MSTRESS_TRANSFER shared slots, so blocks are
 * freed by harts that did not allocate them. At the end of a round each hart frees its blocks;
 * after a barrier hart 0 frees half of the transfer slots (all of them after the last round).
 * Unlike test-stress, every hart does the same amount of work and no thread is recreated.
 *
 * Ops: every uk_calloc and every uk_free (the exchanges are not ops).
 * BENCH_CORRUPT=1 flips one byte of the first block hart 0 frees, to show a failed check.
 */
#include <alloc/bench.h>

#ifndef MSTRESS_ALLOCS
#define MSTRESS_ALLOCS 200
#endif
#ifndef MSTRESS_ROUNDS
#define MSTRESS_ROUNDS 4
#endif
#ifndef MSTRESS_TRANSFER
#define MSTRESS_TRANSFER 1000
#endif
#ifndef BENCH_CORRUPT
#define BENCH_CORRUPT 0
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "mstress");
}
#else

#define MSTRESS_COOKIE 0xbf58476d1ce4e5b9UL
#define MSTRESS_MAX_WORDS (64UL * 100)

static unsigned long *mstress_data[MAX_HARTS][MSTRESS_ALLOCS];
static unsigned long *mstress_retained[MAX_HARTS][MSTRESS_ALLOCS / 2 + 1];
unsigned long *mstress_transfer[MSTRESS_TRANSFER];
static int mstress_corrupted;

static unsigned long mstress_word(const unsigned long *p, unsigned long n, unsigned long i) {
    return (n - i) ^ (unsigned long)p ^ MSTRESS_COOKIE;
}

static unsigned long *mstress_alloc(struct bench_rng *rng, unsigned max_k, unsigned long *ops) {
    unsigned long n = 1UL << bench_below(rng, max_k);
    if (bench_chance(rng, 1))
        n *= 100;
    unsigned long *p = uk_calloc(n, sizeof *p);
    ++*ops;
    if (!p) {
        bench_fail(BENCH_EXIT_NOMEM, "uk_calloc(%lu, 8) returned NULL", n);
        return NULL;
    }
    if (p[n - 1] != 0 || p[0] != 0)
        bench_fail(BENCH_EXIT_CORRUPT, "uk_calloc(%lu, 8) = %p is not zeroed", n, p);
    for (unsigned long i = 0; i < n; i++)
        p[i] = mstress_word(p, n, i);
    return p;
}

static void mstress_free(unsigned long *p, unsigned long *ops) {
    if (!p)
        return;
    if (BENCH_CORRUPT && hart_id() == 0 && !mstress_corrupted) {
        mstress_corrupted = 1;
        ((unsigned char *)p)[7] ^= 0x40; /* the top byte of word 0, which encodes the length */
    }
    unsigned long n = p[0] ^ (unsigned long)p ^ MSTRESS_COOKIE;
    if (n == 0 || n > MSTRESS_MAX_WORDS) {
        bench_fail(BENCH_EXIT_CORRUPT, "mstress: block %p has a bad length word", p);
    } else {
        for (unsigned long i = 1; i < n; i++) {
            if (p[i] != mstress_word(p, n, i)) {
                bench_fail(BENCH_EXIT_CORRUPT, "mstress: block %p word %lu of %lu changed", p, i,
                           n);
                break;
            }
        }
    }
    uk_free(p);
    ++*ops;
}

int app_main(unsigned hart, unsigned nharts) {
    struct bench_rng rng;
    unsigned long ops = 0;
    unsigned long **data = mstress_data[hart], **retained = mstress_retained[hart];
    bench_rng_init(&rng, hart);
    bench_init(hart);
    bench_begin();
    for (unsigned round = 0; round < MSTRESS_ROUNDS; round++) {
        unsigned allocs = MSTRESS_ALLOCS, retain = MSTRESS_ALLOCS / 2;
        unsigned data_top = 0, retain_top = 0;
        while (allocs > 0 || retain > 0) {
            if (retain == 0 || (allocs > 0 && bench_chance(&rng, 50))) {
                allocs--;
                data[data_top++] = mstress_alloc(&rng, 5, &ops);
            } else {
                retain--;
                retained[retain_top++] = mstress_alloc(&rng, 7, &ops);
            }
            if (data_top > 0 && bench_chance(&rng, 66)) {
                unsigned i = (unsigned)bench_below(&rng, data_top);
                mstress_free(data[i], &ops);
                data[i] = NULL;
            }
            if (data_top > 0 && bench_chance(&rng, 25)) {
                unsigned i = (unsigned)bench_below(&rng, data_top);
                unsigned long **slot = &mstress_transfer[bench_below(&rng, MSTRESS_TRANSFER)];
                data[i] = __atomic_exchange_n(slot, data[i], __ATOMIC_ACQ_REL);
            }
        }
        for (unsigned i = 0; i < data_top; i++)
            mstress_free(data[i], &ops);
        for (unsigned i = 0; i < retain_top; i++)
            mstress_free(retained[i], &ops);
        barrier_all();
        if (hart == 0) {
            int last = round + 1 == MSTRESS_ROUNDS;
            for (unsigned i = last ? 0 : round % 2; i < MSTRESS_TRANSFER; i += last ? 1 : 2) {
                mstress_free(mstress_transfer[i], &ops);
                mstress_transfer[i] = NULL;
            }
        }
        barrier_all();
    }
    bench_end(ops);
    return bench_finish(hart, nharts, "mstress");
}
#endif
