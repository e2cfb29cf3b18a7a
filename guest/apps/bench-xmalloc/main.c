/*
 * bench-xmalloc, after xmalloc-test (mimalloc-bench `xmalloc-test`): producers only allocate,
 * consumers only free. A producer allocates a batch of XMALLOC_BATCH blocks of XMALLOC_SIZE
 * bytes, fills each, and pushes the batch on one shared list (push by CAS, take-all by atomic
 * exchange); a consumer takes the whole list and frees every block of every batch after checking
 * its contents. Even harts produce, odd harts consume; with one hart, the hart produces a batch
 * and then consumes the list. At most XMALLOC_CAP batches are in flight (producers wait). Each
 * producer makes XMALLOC_BATCHES batches; the consumers stop when all have been freed.
 *
 * Ops: each block's allocation (producer) and free (consumer), and each batch record's
 * allocation and free: 2 * (XMALLOC_BATCH + 1) per batch.
 */
#include <alloc/bench.h>

#ifndef XMALLOC_BATCH
#define XMALLOC_BATCH 64
#endif
#ifndef XMALLOC_BATCHES
#define XMALLOC_BATCHES 32
#endif
#ifndef XMALLOC_SIZE
#define XMALLOC_SIZE 64
#endif
#ifndef XMALLOC_CAP
#define XMALLOC_CAP 8
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "xmalloc");
}
#else

struct xmalloc_batch {
    struct bench_node node;
    unsigned producer;
    struct bench_block blocks[XMALLOC_BATCH];
};

struct bench_node *xmalloc_list;
unsigned long xmalloc_in_flight;    /* batches pushed and not yet taken */
unsigned long xmalloc_batches_done; /* batches freed */
unsigned long xmalloc_blocks_freed;

static unsigned long xmalloc_produce(unsigned hart, struct bench_rng *rng) {
    unsigned long ops = 1;
    struct xmalloc_batch *batch = uk_malloc(sizeof *batch);
    if (!batch) {
        bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) of a batch returned NULL",
                   (unsigned)sizeof *batch);
        /* Count the batch as done, so that the consumers still stop. */
        __atomic_fetch_add(&xmalloc_batches_done, 1, __ATOMIC_RELEASE);
        return ops;
    }
    batch->producer = hart;
    for (unsigned i = 0; i < XMALLOC_BATCH; i++) {
        struct bench_block *b = &batch->blocks[i];
        b->size = XMALLOC_SIZE;
        b->stamp = (uint32_t)bench_rand(rng);
        b->p = uk_malloc(XMALLOC_SIZE);
        ops++;
        if (!b->p) {
            bench_fail(BENCH_EXIT_NOMEM, "uk_malloc(%u) returned NULL", XMALLOC_SIZE);
            continue;
        }
        memset(b->p, (int)(b->stamp & 0xff), XMALLOC_SIZE);
        bench_stamp(b);
    }
    __atomic_fetch_add(&xmalloc_in_flight, 1, __ATOMIC_RELAXED);
    bench_push(&xmalloc_list, &batch->node);
    return ops;
}

/* Free every batch on the list; returns the ops and adds the batches freed to *batches. */
static unsigned long xmalloc_consume(unsigned long *batches) {
    unsigned long ops = 0;
    struct bench_node *n = bench_take_all(&xmalloc_list);
    while (n) {
        struct xmalloc_batch *batch = (struct xmalloc_batch *)n;
        n = n->next;
        __atomic_fetch_sub(&xmalloc_in_flight, 1, __ATOMIC_RELAXED);
        for (unsigned i = 0; i < XMALLOC_BATCH; i++) {
            struct bench_block *b = &batch->blocks[i];
            if (!b->p)
                continue;
            bench_verify(b, "xmalloc");
            uk_free(b->p);
            ops++;
        }
        uk_free(batch);
        ops++;
        __atomic_fetch_add(&xmalloc_blocks_freed, XMALLOC_BATCH, __ATOMIC_RELAXED);
        __atomic_fetch_add(&xmalloc_batches_done, 1, __ATOMIC_RELEASE);
        ++*batches;
    }
    return ops;
}

int app_main(unsigned hart, unsigned nharts) {
    struct bench_rng rng;
    unsigned long ops = 0, batches = 0;
    unsigned producers = (nharts + 1) / 2;
    unsigned long total = (unsigned long)producers * XMALLOC_BATCHES;
    bench_rng_init(&rng, hart);
    bench_init(hart);
    bench_begin();
    if (nharts == 1) {
        for (unsigned i = 0; i < XMALLOC_BATCHES; i++) {
            ops += xmalloc_produce(hart, &rng);
            ops += xmalloc_consume(&batches);
        }
    } else if (hart % 2 == 0) {
        for (unsigned i = 0; i < XMALLOC_BATCHES; i++) {
            while (__atomic_load_n(&xmalloc_in_flight, __ATOMIC_RELAXED) >= XMALLOC_CAP)
                ;
            ops += xmalloc_produce(hart, &rng);
        }
    } else {
        while (__atomic_load_n(&xmalloc_batches_done, __ATOMIC_ACQUIRE) < total)
            ops += xmalloc_consume(&batches);
    }
    bench_end(ops);
    if (hart == 0 && !bench_failed()) {
        if (xmalloc_batches_done != total || xmalloc_list != NULL)
            bench_fail(BENCH_EXIT_COUNT, "%lu batches freed of %lu, list %s", xmalloc_batches_done,
                       total, xmalloc_list ? "not empty" : "empty");
        else if (xmalloc_blocks_freed != total * XMALLOC_BATCH)
            bench_fail(BENCH_EXIT_COUNT, "%lu blocks freed of %lu", xmalloc_blocks_freed,
                       total * XMALLOC_BATCH);
    }
    return bench_finish(hart, nharts, "xmalloc");
}
#endif
