/*
 * bench-rptest, after the rpmalloc benchmark (mimalloc-bench `rptest`, random mode, linear size
 * drop-off). Every hart keeps RPTEST_LIVE live blocks (allocated first). Each of RPTEST_LOOPS
 * loops makes RPTEST_OPS steps "free a random live block, allocate a new one in its place";
 * sizes run from RPTEST_MIN to RPTEST_MAX bytes with a density falling linearly to zero at the
 * top. Every RPTEST_CROSS loops the hart allocates a batch of RPTEST_OPS more blocks and posts
 * it to the inbox of hart (h+1) mod N (a push by CAS); each loop starts by taking the hart's
 * whole inbox (atomic exchange) and freeing what is in it. Every block is stamped on
 * allocation and checked before it is freed, wherever that is. At the end: a barrier, the last
 * inbox, then the live set.
 *
 * Ops: every block allocation and free, and each batch record's allocation and free.
 */
#include <alloc/bench.h>

#ifndef RPTEST_LOOPS
#define RPTEST_LOOPS 40
#endif
#ifndef RPTEST_LIVE
#define RPTEST_LIVE 128
#endif
#ifndef RPTEST_OPS
#define RPTEST_OPS 32
#endif
#ifndef RPTEST_CROSS
#define RPTEST_CROSS 2
#endif
#ifndef RPTEST_MIN
#define RPTEST_MIN 8
#endif
#ifndef RPTEST_MAX
#define RPTEST_MAX 2048
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "rptest");
}
#else

struct rptest_batch {
    struct bench_node node;
    struct bench_block blocks[RPTEST_OPS];
};

static struct bench_block rptest_live[MAX_HARTS][RPTEST_LIVE];
struct bench_node *rptest_inbox[MAX_HARTS];

/* Linear drop-off: the smaller of two uniform draws has density 2(1 - x) on [0, 1). */
static uint32_t rptest_size(struct bench_rng *rng) {
    unsigned long span = RPTEST_MAX - RPTEST_MIN + 1;
    unsigned long a = bench_below(rng, span), b = bench_below(rng, span);
    return (uint32_t)(RPTEST_MIN + (a < b ? a : b));
}

static unsigned long rptest_alloc(struct bench_block *b, struct bench_rng *rng) {
    b->size = rptest_size(rng);
    b->stamp = (uint32_t)bench_rand(rng);
    b->p = uk_malloc(b->size);
    if (b->p)
        bench_stamp(b);
    else
        bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", (unsigned)b->size);
    return 1;
}

static unsigned long rptest_drain(unsigned hart) {
    unsigned long ops = 0;
    struct bench_node *n = bench_take_all(&rptest_inbox[hart]);
    while (n) {
        struct rptest_batch *batch = (struct rptest_batch *)n;
        n = n->next;
        for (unsigned i = 0; i < RPTEST_OPS; i++)
            ops += bench_free_slot(&batch->blocks[i], "rptest");
        uk_free(batch);
        ops++;
    }
    return ops;
}

int app_main(unsigned hart, unsigned nharts) {
    struct bench_rng rng;
    unsigned long ops = 0;
    struct bench_block *live = rptest_live[hart];
    bench_rng_init(&rng, hart);
    bench_init(hart);
    bench_begin();
    for (unsigned i = 0; i < RPTEST_LIVE; i++)
        ops += rptest_alloc(&live[i], &rng);
    for (unsigned loop = 0; loop < RPTEST_LOOPS; loop++) {
        ops += rptest_drain(hart);
        for (unsigned s = 0; s < RPTEST_OPS; s++) {
            struct bench_block *b = &live[bench_below(&rng, RPTEST_LIVE)];
            ops += bench_free_slot(b, "rptest");
            ops += rptest_alloc(b, &rng);
        }
        if ((loop + 1) % RPTEST_CROSS == 0) {
            struct rptest_batch *batch = uk_malloc(sizeof *batch);
            ops++;
            if (!batch) {
                bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) of a batch returned NULL",
                           (unsigned)sizeof *batch);
                continue;
            }
            for (unsigned i = 0; i < RPTEST_OPS; i++)
                ops += rptest_alloc(&batch->blocks[i], &rng);
            bench_push(&rptest_inbox[(hart + 1) % nharts], &batch->node);
        }
    }
    barrier_all(); /* every batch has been posted */
    ops += rptest_drain(hart);
    for (unsigned i = 0; i < RPTEST_LIVE; i++)
        ops += bench_free_slot(&live[i], "rptest");
    bench_end(ops);
    return bench_finish(hart, nharts, "rptest");
}
#endif
