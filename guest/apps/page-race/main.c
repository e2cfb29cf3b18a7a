/*
 * page-race: the harts race for the same pages. First every hart adds a slice of memory with
 * uk_addmem at the same time (the heap was set up without them). Then hart 0 takes every free page
 * and gives back one block of RACE_POOL pages; then, RACE_ROUNDS times, every hart takes 1- and
 * 2-page blocks from that pool until it is empty, stamps each page, checks the stamps after a
 * barrier (a page two harts were given shows the other's stamp), frees them all at once, and hart 0
 * checks the pool merged back into one block of RACE_POOL pages. Finally everything is given back.
 * Before the pool, two races on the entry points' statistics (enomem-race, stats-race: below).
 *
 * Why it exists: the other page tests leave most of memory free, and a buddy that spreads its
 * harts over the tree (nbbs starts each hart in its own quarter) then never has two harts
 * claiming, marking or merging the same nodes: a claim or climb that lost its atomicity
 * passes them all. Here the only free nodes lie under one small block, and every hart's
 * search ends up there. Needs a backend that frees pages and keeps blocks aligned to their
 * size (a buddy): the pool's halving relies on it; the others skip.
 */
#include <alloc/alloc.h>
#include <alloc/test.h>
#include <rt/runtime.h>

#ifndef CONFIG_LIBUKALLOC
ALLOC_APP_NEEDS_ALLOCATOR("page-race")
#else

#ifndef RACE_ROUNDS
#define RACE_ROUNDS 6
#endif
#ifndef RACE_POOL
#define RACE_POOL 16 /* pages, a power of two */
#endif

#ifndef RACE_CARVE
#define RACE_CARVE (128UL << 10) /* bytes each hart adds with uk_addmem, all at once */
#endif

#ifndef STATS_SPAN
#define STATS_SPAN 128 /* distinct block sizes in each half of stats-race, at most */
#endif
#ifndef ENOMEM_STEPS
#define ENOMEM_STEPS 24 /* failing requests per hart in enomem-race */
#endif

#define BUDDY                                                                                      \
    (UK_ALLOC_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES) &&                                            \
     UK_ALLOC_PROVIDER_HAS(UK_ALLOC_CAP_SIZE_ALIGNED))
#define HELD_MAX 256

unsigned long test_case_failures;

struct block {
    uint64_t *p;
    unsigned long pages;
};

static struct block held[HELD_MAX]; /* hart 0's: everything but the pool */
static unsigned held_count;
static long pages_before;
static struct block got[MAX_HARTS][RACE_POOL];
static unsigned long pages_got[MAX_HARTS];

static int hold(unsigned long pages) {
    void *p = uk_palloc(pages);
    if (!EXPECT(p != NULL) || !EXPECT(held_count < HELD_MAX))
        return 0;
    held[held_count++] = (struct block){p, pages};
    return 1;
}

static char *carve_base;

static void test_init(unsigned hart, unsigned nharts) {
    (void)hart;
    char *start = heap_start(), *end = heap_end();
    carve_base = end - nharts * RACE_CARVE;
    EXPECT_EQ(alloc_init_range(start, (size_t)(carve_base - start)), 0);
}

/* Every hart adds its own slice at the same time: the region lists and the free-page count are
 * shared. Each slice may lose a page to the backend's metadata, no more. */
static void test_addmem_race(unsigned hart, unsigned nharts) {
    static long before;
    if (hart == 0)
        before = uk_pavailmem();
    barrier_all();
    /* region only grows at its end: its slices go in in order, each hart waiting its turn */
    int rc = -1;
    for (unsigned tries = 0; rc != 0 && tries < 100000; tries++)
        rc = uk_addmem(carve_base + hart * RACE_CARVE, RACE_CARVE);
    EXPECT_EQ(rc, 0);
    barrier_all();
    if (hart == 0) {
        long added = uk_pavailmem() - before, slice = (long)(RACE_CARVE >> PAGE_SHIFT);
        EXPECT(added >= (long)nharts * (slice - 1) && added <= (long)nharts * slice);
        pages_before = uk_pavailmem();
    }
}

/*
 * The statistics the entry points keep (alloc.c), raced by every hart at once. Issue 21: nothing
 * checked them exactly, so a running maximum or minimum raised by a load, a compare and a store
 * (two harts at once: the smaller value written last wins), or nb_enomem counted by a load and a
 * store (one count lost), passed every test. Sizes are what count_alloc records for a palloc of
 * n pages: n * PAGE_SIZE bytes, exactly.
 */
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

static unsigned long stats_steps;    /* per hart, in each half of stats-race (set by hart 0) */
static size_t stats_done[MAX_HARTS]; /* bytes of each hart's last counted palloc, 0: none */

/* One half of stats-race: every hart takes and frees stats_steps blocks at once, of sizes
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
static void test_stats_race(unsigned hart, unsigned nharts) {
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

/* Hold every free page but one aligned block of RACE_POOL: take the largest blocks, give one
 * of at least RACE_POOL pages back and take halves of it until RACE_POOL pages are left. */
static void test_corner(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    long n, taken = 0;
    while ((n = uk_pmaxalloc()) > 0) {
        if (!hold((unsigned long)n))
            return;
        taken += n;
    }
    EXPECT_EQ(taken, pages_before); /* every page counted can be taken: none was lost */
    EXPECT_EQ(uk_pavailmem(), 0);
    unsigned pick = held_count;
    for (unsigned i = 0; i < held_count; i++)
        if (held[i].pages >= RACE_POOL && (pick == held_count || held[i].pages < held[pick].pages))
            pick = i;
    if (!EXPECT(pick < held_count))
        return;
    uk_pfree(held[pick].p, held[pick].pages);
    held[pick] = held[--held_count];
    while (uk_pavailmem() > RACE_POOL)
        if (!hold((unsigned long)uk_pmaxalloc() / 2))
            return;
    EXPECT_EQ(uk_pavailmem(), RACE_POOL);
    EXPECT_EQ(uk_pmaxalloc(), RACE_POOL);
}

static uint64_t stamp(unsigned hart, unsigned round, unsigned i, unsigned page) {
    return ((uint64_t)(hart + 1) << 48) ^ ((uint64_t)round << 32) ^ ((uint64_t)i << 8) ^ page;
}

static void check_stamps(unsigned hart, unsigned round, unsigned count) {
    for (unsigned i = 0; i < count; i++)
        for (unsigned pg = 0; pg < got[hart][i].pages; pg++) {
            uint64_t *w = got[hart][i].p + pg * (PAGE_SIZE / sizeof(uint64_t));
            if (!EXPECT(w[0] == stamp(hart, round, i, pg) &&
                        w[PAGE_SIZE / sizeof(uint64_t) - 1] == stamp(hart, round, i, pg)))
                printf("  hart %u round %u: page %p was handed out twice\n", hart, round,
                       (void *)w);
        }
}

static void test_race(unsigned hart, unsigned nharts) {
    for (unsigned round = 0; round < RACE_ROUNDS; round++) {
        unsigned count = 0;
        pages_got[hart] = 0;
        barrier_all();
        while (count < RACE_POOL) {
            /* mostly single pages, some pairs: pairs race for the parents of the singles */
            unsigned long pages = ((hart + round + count) % 3 == 2) ? 2 : 1;
            uint64_t *p = uk_palloc(pages);
            if (!p && pages == 2)
                p = uk_palloc(pages = 1);
            if (!p)
                break;
            got[hart][count] = (struct block){p, pages};
            for (unsigned pg = 0; pg < pages; pg++) {
                uint64_t *w = p + pg * (PAGE_SIZE / sizeof(uint64_t));
                w[0] = w[PAGE_SIZE / sizeof(uint64_t) - 1] = stamp(hart, round, count, pg);
            }
            pages_got[hart] += pages;
            count++;
        }
        barrier_all();
        check_stamps(hart, round, count);
        if (hart == 0) {
            unsigned long total = 0;
            for (unsigned h = 0; h < nharts; h++)
                total += pages_got[h];
            EXPECT_EQ(total, RACE_POOL);
        }
        barrier_all();
        for (unsigned i = 0; i < count; i++)
            uk_pfree(got[hart][i].p, got[hart][i].pages);
        barrier_all();
        if (hart == 0) {
            EXPECT_EQ(uk_pavailmem(), RACE_POOL);
            EXPECT_EQ(uk_pmaxalloc(), RACE_POOL); /* the pool merged back whole */
        }
    }
}

static void test_give_back(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    while (held_count) {
        held_count--;
        uk_pfree(held[held_count].p, held[held_count].pages);
    }
    EXPECT_EQ(uk_pavailmem(), pages_before);
}

#define NOT_BUDDY (BUDDY ? NULL : "needs a buddy: pages freed, blocks aligned to their size")

static const struct test_case cases[] = {
    {"init", test_init, 0, NULL},
    {"addmem-race", test_addmem_race, TEST_ALL_HARTS, NULL},
    {"enomem-race", test_enomem_race, TEST_ALL_HARTS, NO_STATS},
    {"stats-race", test_stats_race, TEST_ALL_HARTS, NO_STATS},
    {"corner", test_corner, 0, NOT_BUDDY},
    {"race", test_race, TEST_ALL_HARTS, NOT_BUDDY},
    {"give-back", test_give_back, 0, NOT_BUDDY},
};

int app_main(unsigned hart, unsigned nharts) {
    if (hart == 0)
        printf("page-race: %s, %u harts, pool of %u pages, %u rounds\n", alloc_backend_name, nharts,
               (unsigned)RACE_POOL, (unsigned)RACE_ROUNDS);
    return test_run(cases, sizeof(cases) / sizeof(cases[0]), hart, nharts);
}
#endif /* CONFIG_LIBUKALLOC */
