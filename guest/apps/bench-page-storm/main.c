/*
 * bench-page-storm (ours; no mimalloc-bench counterpart): the page allocator under load. Every
 * hart has PSTORM_SLOTS slots; each of PSTORM_OPS steps picks a random slot: an occupied one is
 * checked (the first and last word of every page hold values derived from the run's address,
 * the page's index and a random stamp) and given back with uk_pfree, an empty one gets a run of
 * 1..PSTORM_MAX_PAGES pages (uniform) from uk_palloc, stamped page by page. What is left is
 * freed at the end. No run crosses harts. Not for region: it never takes pages back, so the
 * heap runs out at the default parameters beyond a couple of harts.
 *
 * Ops: every uk_palloc and every uk_pfree: PSTORM_OPS per hart plus the final frees.
 */
#include <alloc/bench.h>

#ifndef PSTORM_SLOTS
#define PSTORM_SLOTS 32
#endif
#ifndef PSTORM_OPS
#define PSTORM_OPS 2000
#endif
#ifndef PSTORM_MAX_PAGES
#define PSTORM_MAX_PAGES 16
#endif

#ifndef CONFIG_LIBUKALLOC
int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    return bench_no_allocator(hart, "page-storm");
}
#else

#define PSTORM_WORDS (PAGE_SIZE / sizeof(uint64_t))

/* size holds the number of pages. */
static struct bench_block pstorm_slots[MAX_HARTS][PSTORM_SLOTS];

static uint64_t pstorm_value(const struct bench_block *b, unsigned page, unsigned end) {
    return bench_mix((uint64_t)(uintptr_t)b->p ^ ((uint64_t)b->stamp << 32) ^ (page * 2 + end));
}

static void pstorm_fill(const struct bench_block *b) {
    for (unsigned i = 0; i < b->size; i++) {
        uint64_t *page = (uint64_t *)((char *)b->p + i * PAGE_SIZE);
        page[0] = pstorm_value(b, i, 0);
        page[PSTORM_WORDS - 1] = pstorm_value(b, i, 1);
    }
}

static void pstorm_check(const struct bench_block *b) {
    for (unsigned i = 0; i < b->size; i++) {
        const uint64_t *page = (const uint64_t *)((char *)b->p + i * PAGE_SIZE);
        if (page[0] != pstorm_value(b, i, 0) || page[PSTORM_WORDS - 1] != pstorm_value(b, i, 1)) {
            bench_fail(BENCH_EXIT_CORRUPT,
                       "page-storm: page %u of the run at %p (%u pages) changed", i, b->p,
                       (unsigned)b->size);
            return;
        }
    }
}

int app_main(unsigned hart, unsigned nharts) {
    struct bench_rng rng;
    unsigned long ops = 0;
    struct bench_block *slots = pstorm_slots[hart];
    bench_rng_init(&rng, hart);
    bench_init(hart);
    bench_begin();
    for (unsigned i = 0; i < PSTORM_OPS; i++) {
        struct bench_block *b = &slots[bench_below(&rng, PSTORM_SLOTS)];
        if (b->p) {
            pstorm_check(b);
            uk_pfree(b->p, b->size);
            b->p = NULL;
        } else {
            b->size = (uint32_t)bench_range(&rng, 1, PSTORM_MAX_PAGES);
            b->stamp = (uint32_t)bench_rand(&rng);
            b->p = uk_palloc(b->size);
            if (b->p)
                pstorm_fill(b);
            else
                bench_fail(BENCH_EXIT_NOMEM, "uk_palloc(%u) returned NULL", (unsigned)b->size);
        }
        ops++;
    }
    for (unsigned i = 0; i < PSTORM_SLOTS; i++) {
        struct bench_block *b = &slots[i];
        if (!b->p)
            continue;
        pstorm_check(b);
        uk_pfree(b->p, b->size);
        b->p = NULL;
        ops++;
    }
    bench_end(ops);
    return bench_finish(hart, nharts, "page-storm");
}
#endif
