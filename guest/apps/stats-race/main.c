/*
 * stats-race: every hart at once updates the statistics the uk_* entry points keep (alloc.c,
 * struct uk_alloc_stats), and they must come out exact. enomem-race: every hart fails requests
 * in a tight loop; nb_enomem must grow by exactly their number. extremes-race: every hart takes
 * and frees blocks of sizes distinct over (step, hart), falling, then rising; after every palloc
 * the running minimum and maximum must already cover every size any hart was given, and at the
 * end equal the extremes. Sizes are what count_alloc records for a palloc of n pages:
 * n * PAGE_SIZE bytes, exactly.
 *
 * Why it exists (issue 21): nothing checked these statistics exactly, so a running maximum or
 * minimum raised by a load, a compare and a store (two harts at once: the smaller value written
 * last wins) or nb_enomem counted by a load and a store (one count lost) passed every test.
 * Any allocator that keeps the statistics; skipped when they are compiled out (ALLOC_STATS=0,
 * the frontend configurations) or the allocator keeps none.
 */
#include <alloc/alloc.h>
#include <alloc/test.h>
#include <rt/runtime.h>

#ifndef CONFIG_LIBUKALLOC
ALLOC_APP_NEEDS_ALLOCATOR("stats-race")
#else

#ifndef STATS_SPAN
#define STATS_SPAN 128 /* distinct block sizes in each half of extremes-race, at most */
#endif
#ifndef ENOMEM_STEPS
#define ENOMEM_STEPS 24 /* failing requests per hart in enomem-race */
#endif

unsigned long test_case_failures;

static void test_init(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    EXPECT_EQ(alloc_init(), 0);
}

#if defined(ALLOC_STATS) && !ALLOC_STATS
#define NO_STATS "the statistics are off (ALLOC_STATS=0)"
#else
#define NO_STATS NULL
#endif

static int stats_kept; /* the allocator counts (a failed palloc raised nb_enomem) */

static unsigned long enomem_count(void) {
    struct uk_alloc_stats s;
    uk_alloc_stats(&s);
    return s.nb_enomem;
}

/* Every hart makes ENOMEM_STEPS page requests no memory can hold, all at once, in a tight loop,
 * and counts its failures in `refused` (an atomic add, so a schedule that switches harts in front
 * of atomics has a switch point in every turn of the loop): nb_enomem must grow by exactly that,
 * nharts * ENOMEM_STEPS. */
static void test_enomem_race(unsigned hart, unsigned nharts) {
    static unsigned long before, refused;
    if (hart == 0) {
        /* one failure first: an allocator of one's own may keep no statistics */
        before = enomem_count();
        EXPECT(uk_palloc(1UL << 40) == NULL);
        stats_kept = enomem_count() == before + 1;
        if (!stats_kept)
            printf("  no statistics kept (nb_enomem did not count a failed palloc): not raced\n");
        before = enomem_count();
        refused = 0;
    }
    barrier_all();
    if (!stats_kept)
        return;
    for (unsigned i = 0; i < ENOMEM_STEPS; i++)
        if (EXPECT(uk_palloc(i % 2 ? (unsigned long)-1 : 1UL << 40) == NULL))
            __atomic_fetch_add(&refused, 1, __ATOMIC_RELAXED);
    barrier_all();
    if (hart == 0) {
        EXPECT_EQ(refused, (unsigned long)nharts * ENOMEM_STEPS);
        EXPECT_EQ(enomem_count() - before, refused);
    }
}

static unsigned long stats_steps;    /* per hart, in each half of extremes-race (set by hart 0) */
static size_t stats_done[MAX_HARTS]; /* bytes of each hart's last counted palloc, 0: none */

/* One half of extremes-race: every hart takes and frees stats_steps blocks at once, of sizes
 * distinct over (step, hart), all rising (max) or all falling (min), so each palloc moves the
 * statistic and two harts' updates meet. A hart publishes each size it got once its palloc
 * returned (the update done); after every palloc it checks that the statistic already covers
 * every size any hart published, so a raise lost to a stale store shows at once. */
static void stats_half(unsigned hart, unsigned nharts, int rising, unsigned long base) {
    for (unsigned long k = 0; k < stats_steps; k++) {
        unsigned long rank = k * nharts + hart; /* distinct over (step, hart) */
        unsigned long pages = rising ? base + rank : base - rank;
        void *p = uk_palloc(pages);
        if (!EXPECT(p != NULL))
            return;
        size_t bound = pages << PAGE_SHIFT;
        __atomic_store_n(&stats_done[hart], bound, __ATOMIC_RELEASE);
        for (unsigned h = 0; h < nharts; h++) {
            size_t d = __atomic_load_n(&stats_done[h], __ATOMIC_ACQUIRE);
            if (d && (rising ? d > bound : d < bound))
                bound = d;
        }
        struct uk_alloc_stats s;
        uk_alloc_stats(&s);
        if (!EXPECT(rising ? s.max_alloc_size >= bound
                           : s.min_alloc_size != 0 && s.min_alloc_size <= bound))
            printf("  hart %u: %s %lu bytes, a hart was given %lu: an update was lost\n", hart,
                   rising ? "max_alloc_size" : "min_alloc_size",
                   (unsigned long)(rising ? s.max_alloc_size : s.min_alloc_size),
                   (unsigned long)bound);
        uk_pfree(p, pages);
    }
}

/* The minimum first (sizes falling to 1 page), then the maximum (rising from above the first
 * half's largest): each must end at exactly the extreme any hart got. */
static void test_extremes_race(unsigned hart, unsigned nharts) {
    static struct uk_alloc_stats before;
    static unsigned long span;
    if (!stats_kept)
        return;
    if (hart == 0) {
        /* a block of up to 2 * span pages per hart at once; a region never gets them back */
        unsigned long room = (unsigned long)uk_pavailmem() / 2;
        span = STATS_SPAN;
        while (span > nharts &&
               (UK_ALLOC_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES) ? 4 * span * nharts > room
                                                                : 2 * span * span > room))
            span /= 2;
        stats_steps = span > nharts ? span / nharts : 1;
        span = stats_steps * nharts;
        uk_alloc_stats(&before);
    }
    for (int rising = 0; rising < 2; rising++) {
        __atomic_store_n(&stats_done[hart], 0, __ATOMIC_RELAXED);
        barrier_all();
        stats_half(hart, nharts, rising, rising ? span + 1 : span);
        barrier_all();
    }
    if (hart == 0) {
        struct uk_alloc_stats s;
        uk_alloc_stats(&s);
        size_t lo = PAGE_SIZE, hi = (2 * span) << PAGE_SHIFT;
        if (before.min_alloc_size && before.min_alloc_size < lo)
            lo = before.min_alloc_size;
        if (before.max_alloc_size > hi)
            hi = before.max_alloc_size;
        EXPECT_EQ(s.min_alloc_size, lo);
        EXPECT_EQ(s.max_alloc_size, hi);
    }
}

static const struct test_case cases[] = {
    {"init", test_init, 0, NULL},
    {"enomem-race", test_enomem_race, TEST_ALL_HARTS, NO_STATS},
    {"extremes-race", test_extremes_race, TEST_ALL_HARTS, NO_STATS},
};

int app_main(unsigned hart, unsigned nharts) {
    if (hart == 0)
        printf("stats-race: %s, %u harts, %u failing requests each, up to %u sizes a half\n",
               alloc_backend_name, nharts, (unsigned)ENOMEM_STEPS, (unsigned)STATS_SPAN);
    return test_run(cases, sizeof(cases) / sizeof(cases[0]), hart, nharts);
}
#endif /* CONFIG_LIBUKALLOC */
