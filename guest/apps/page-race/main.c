/*
 * page-race: the harts race for the same pages. First every hart adds a slice of memory with
 * uk_addmem at the same time (the heap was set up without them). Then hart 0 takes every free page
 * and gives back one block of RACE_POOL pages; then, RACE_ROUNDS times, every hart takes 1- and
 * 2-page blocks from that pool until it is empty, stamps each page, checks the stamps after a
 * barrier (a page two harts were given shows the other's stamp), frees them all at once, and hart 0
 * checks the pool merged back into one block of RACE_POOL pages. Finally everything is given back.
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
