/*
 * Tests of the configured allocator through the uk_* entry points only: single-hart cases on
 * hart 0, then an SMP stress on every hart whose blocks cross harts, then a check that no page
 * was lost. Build with an allocator configuration (bbuddy-*, region), not `default`.
 */
#include <alloc/alloc.h>
#include <alloc/test.h>
#include <rt/runtime.h>

#ifndef CONFIG_LIBUKALLOC
ALLOC_APP_NEEDS_ALLOCATOR("alloc-tests")
#else

#ifndef ALLOC_STRESS_ITERS
#define ALLOC_STRESS_ITERS 200
#endif
/* Kept off the heap at init and handed over by the addmem case. */
#ifndef ALLOC_TEST_CARVE
#define ALLOC_TEST_CARVE (1UL << 20)
#endif

/* Cases that need a capability the backend lacks are skipped (SKIP NAME: WHY); region is the
 * bundled backend without them, and the reasons say so. */
#define FREES_MEMORY UK_ALLOC_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES)
#define UNLESS_PROVIDER_HAS(cap, why) (UK_ALLOC_PROVIDER_HAS(cap) ? NULL : why)

unsigned long test_case_failures;

static char *carve_base;

static int in_heap(const void *p, size_t len) {
    uintptr_t a = (uintptr_t)p;
    return a >= (uintptr_t)heap_start() && a + len <= (uintptr_t)heap_end() && a + len >= a;
}

/* ---- holding every free page (exhaustion, coalescing, conservation) ---- */

#define HELD_MAX 256
struct held {
    void *p;
    unsigned long pages;
};
static struct held held[HELD_MAX];
static unsigned held_count;

/* Take the largest block until none is left; returns the pages taken. */
static unsigned long take_everything(void) {
    unsigned long total = 0;
    while (held_count < HELD_MAX) {
        long n = uk_pmaxalloc();
        if (n <= 0)
            break;
        void *p = uk_palloc((unsigned long)n);
        if (!EXPECT(p != NULL) || !EXPECT(in_heap(p, (size_t)n << PAGE_SHIFT)))
            break;
        held[held_count++] = (struct held){p, (unsigned long)n};
        total += (unsigned long)n;
    }
    EXPECT(held_count < HELD_MAX);
    return total;
}

static void give_everything_back(void) {
    while (held_count)
        uk_pfree(held[held_count - 1].p, held[held_count - 1].pages), held_count--;
}

/* ---- single-hart cases ---- */

static void test_init(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    char *start = heap_start(), *end = heap_end();
    carve_base = end - ALLOC_TEST_CARVE;
    EXPECT_EQ(alloc_init_range(start, (size_t)(carve_base - start)), 0);
    EXPECT(uk_alloc_default() != NULL);
    EXPECT(uk_pavailmem() > 0);
    EXPECT(uk_availmem() == uk_pavailmem() << PAGE_SHIFT ||
           uk_availmem() >> PAGE_SHIFT == uk_pavailmem());
    EXPECT(uk_pmaxalloc() > 0 && uk_pmaxalloc() <= uk_pavailmem());
    printf("  %s: %ld pages free, largest run %ld pages\n", alloc_backend_name, uk_pavailmem(),
           uk_pmaxalloc());
}

static void test_one_page(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    long before = uk_pavailmem();
    char *p = uk_palloc(1);
    if (!EXPECT(p != NULL))
        return;
    EXPECT(((uintptr_t)p & (PAGE_SIZE - 1)) == 0);
    EXPECT(in_heap(p, PAGE_SIZE));
    EXPECT(uk_pavailmem() <= before - 1);
    memset(p, 0xa5, PAGE_SIZE);
    uk_pfree(p, 1);
    if (FREES_MEMORY)
        EXPECT_EQ(uk_pavailmem(), before);
    EXPECT(uk_palloc(0) == NULL);
}

static void test_four_pages_aligned(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    void *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = uk_palloc(4);
        EXPECT(p[i] != NULL && ((uintptr_t)p[i] & (4 * PAGE_SIZE - 1)) == 0);
    }
    void *three = uk_palloc(3); /* rounded up to a 4-page block */
    EXPECT(three != NULL && ((uintptr_t)three & (4 * PAGE_SIZE - 1)) == 0);
    uk_pfree(three, 3);
    for (int i = 0; i < 4; i++)
        uk_pfree(p[i], 4);
}

static void test_alignment(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    long before = uk_pavailmem();
    for (size_t align = sizeof(void *); align <= (1UL << 20); align <<= 1) {
        void *p = NULL;
        if (EXPECT_EQ(uk_posix_memalign(&p, align, 100), 0)) {
            EXPECT(((uintptr_t)p & (align - 1)) == 0);
            memset(p, 0x5a, 100);
            uk_free(p);
        }
        char *q = uk_memalign(align, 3000);
        if (EXPECT(q != NULL)) {
            EXPECT(((uintptr_t)q & (align - 1)) == 0);
            q[0] = q[2999] = 1;
            uk_free(q);
        }
    }
    void *p = NULL;
    EXPECT_EQ(uk_posix_memalign(&p, 24, 8), ERRNO_EINVAL);
    EXPECT_EQ(uk_posix_memalign(&p, 4, 8), ERRNO_EINVAL);
    EXPECT(uk_memalign(48, 8) == NULL);
    if (FREES_MEMORY)
        EXPECT_EQ(uk_pavailmem(), before);
}

static void test_zero_size(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    void *a = uk_malloc(0), *b = uk_malloc(0);
    EXPECT(a != NULL && b != NULL && a != b);
    uk_free(a);
    uk_free(b);
    uk_free(NULL);
    void *c = uk_calloc(0, 16);
    EXPECT(c != NULL);
    uk_free(c);
}

static void test_huge(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    long before = uk_pavailmem();
    void *p = NULL;
    EXPECT(uk_malloc((size_t)-1) == NULL);
    EXPECT(uk_malloc((size_t)-1 / 2) == NULL);
    EXPECT(uk_malloc((size_t)uk_availmem() + PAGE_SIZE) == NULL);
    EXPECT(uk_palloc(1UL << 40) == NULL);
    EXPECT(uk_palloc((unsigned long)-1) == NULL);
    EXPECT(uk_memalign(1UL << 62, 16) == NULL);
    EXPECT_EQ(uk_posix_memalign(&p, 1UL << 62, 16), ERRNO_ENOMEM);
    EXPECT_EQ(uk_posix_memalign(&p, 16, (size_t)-1), ERRNO_ENOMEM);
    EXPECT_EQ(uk_pavailmem(), before);
    struct uk_alloc_stats s;
    uk_alloc_stats(&s);
    EXPECT(s.nb_enomem >= 8);
    void *q = uk_malloc(64); /* still works */
    EXPECT(q != NULL);
    uk_free(q);
}

static void test_calloc(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    EXPECT(uk_calloc((size_t)-1 / 2, 3) == NULL);
    EXPECT(uk_calloc(1UL << 33, 1UL << 33) == NULL);
    EXPECT(uk_calloc(3, (size_t)-1 / 2) == NULL);
    unsigned char *dirty = uk_malloc(512);
    if (EXPECT(dirty != NULL)) {
        memset(dirty, 0xff, 512);
        uk_free(dirty);
    }
    unsigned char *p = uk_calloc(16, 32);
    if (!EXPECT(p != NULL))
        return;
    int zero = 1;
    for (int i = 0; i < 16 * 32; i++)
        zero &= p[i] == 0;
    EXPECT(zero);
    uk_free(p);
}

static void test_realloc(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    long before = uk_pavailmem();
    unsigned char *p = uk_realloc(NULL, 100);
    if (!EXPECT(p != NULL))
        return;
    for (int i = 0; i < 100; i++)
        p[i] = (unsigned char)i;
    p = uk_realloc(p, 20000); /* grow past the first page run */
    if (!EXPECT(p != NULL))
        return;
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= p[i] == (unsigned char)i;
    EXPECT(same);
    p[19999] = 7;
    p = uk_realloc(p, 50); /* shrink */
    if (!EXPECT(p != NULL))
        return;
    same = 1;
    for (int i = 0; i < 50; i++)
        same &= p[i] == (unsigned char)i;
    EXPECT(same);
    EXPECT(uk_realloc(p, 0) == NULL); /* frees */
    if (FREES_MEMORY)
        EXPECT_EQ(uk_pavailmem(), before);
}

static void test_exhaustion(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    long before = uk_pavailmem();
    unsigned long taken = take_everything();
    EXPECT_EQ(taken, before);
    EXPECT_EQ(uk_pavailmem(), 0);
    EXPECT(uk_palloc(1) == NULL);
    EXPECT(uk_malloc(1) == NULL);
    EXPECT(uk_calloc(1, 1) == NULL);
    give_everything_back();
    EXPECT_EQ(uk_pavailmem(), before);
    void *p = uk_palloc(1);
    EXPECT(p != NULL);
    uk_pfree(p, 1);
}

/*
 * Take everything, give one block B back and take it again as two single pages (B[0], B[1])
 * plus one block of each order in between. Freeing B[0] and B[1] must merge them: a 2-page
 * palloc then succeeds, at B.
 */
static void test_coalesce(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    long before = uk_pavailmem();
    take_everything();
    struct held *b = NULL;
    for (unsigned i = 0; i < held_count && !b; i++)
        if (held[i].pages >= 4)
            b = &held[i];
    if (!EXPECT(b != NULL)) {
        give_everything_back();
        return;
    }
    char *base = b->p;
    unsigned long pages = b->pages;
    uk_pfree(base, pages);
    char *first = uk_palloc(1), *second = uk_palloc(1);
    EXPECT(first == base);
    EXPECT(second == base + PAGE_SIZE);
    void *rest[64];
    unsigned nrest = 0;
    for (unsigned long n = 2; n < pages && nrest < 64; n <<= 1) {
        rest[nrest] = uk_palloc(n);
        EXPECT(rest[nrest] != NULL);
        nrest++;
    }
    EXPECT_EQ(uk_pavailmem(), 0);
    EXPECT(uk_palloc(2) == NULL);
    uk_pfree(first, 1);
    EXPECT(uk_palloc(2) == NULL); /* one free page has no free buddy yet */
    uk_pfree(second, 1);
    char *pair = uk_palloc(2);
    EXPECT(pair == base);
    uk_pfree(pair, 2);
    for (unsigned long i = 0, n = 2; i < nrest; i++, n <<= 1)
        uk_pfree(rest[i], n);
    /* b's slot is free now; hand it back as part of the rest. */
    b->p = NULL;
    for (unsigned i = 0; i < held_count; i++)
        if (held[i].p)
            uk_pfree(held[i].p, held[i].pages);
    held_count = 0;
    EXPECT_EQ(uk_pavailmem(), before);
    EXPECT_EQ(uk_pmaxalloc(), held[0].pages); /* everything merged back to the largest run */
}

static void test_addmem(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    static char tiny[64];
    EXPECT(uk_addmem(tiny, sizeof(tiny)) != 0);
    long before = uk_pavailmem();
    if (!EXPECT_EQ(uk_addmem(carve_base, ALLOC_TEST_CARVE), 0))
        return;
    long added = uk_pavailmem() - before;
    EXPECT(added >= (long)(ALLOC_TEST_CARVE >> PAGE_SHIFT) - 1);
    EXPECT(added <= (long)(ALLOC_TEST_CARVE >> PAGE_SHIFT));
    if (!FREES_MEMORY)
        return;
    /* The new pages are reachable: some block of the whole lies in them. */
    take_everything();
    int seen = 0;
    for (unsigned i = 0; i < held_count; i++)
        seen |=
            (char *)held[i].p >= carve_base && (char *)held[i].p < carve_base + ALLOC_TEST_CARVE;
    EXPECT(seen);
    give_everything_back();
    EXPECT_EQ(uk_pavailmem(), before + added);
}

/* ---- SMP stress ---- */

#define STRESS_LOCAL 8     /* blocks a hart holds at once */
#define STRESS_EXCHANGE 32 /* slots through which blocks move between harts */
#define KIND_PAGES 1u
#define KIND_OBJECT 2u
#define PAGE_STRIDE_WORDS 8 /* pages are patterned every 64 bytes: enough to see an overlap */

/* At the start of every stress block. */
struct tag {
    unsigned hart, index, kind;
    unsigned size; /* pages or bytes */
};

void *stress_exchange[STRESS_EXCHANGE];
long stress_pages_before;

static uint64_t pattern(const struct tag *t, unsigned long word) {
    return ((uint64_t)t->hart << 56) ^ ((uint64_t)t->index << 24) ^ (word * 0x9e3779b97f4a7c15u);
}

static unsigned long block_words(const struct tag *t) {
    return t->kind == KIND_PAGES ? ((unsigned long)t->size << PAGE_SHIFT) / 8 : t->size / 8;
}

static unsigned long word_step(const struct tag *t) {
    return t->kind == KIND_PAGES ? PAGE_STRIDE_WORDS : 1;
}

static void fill(uint64_t *w) {
    const struct tag *t = (const struct tag *)w;
    for (unsigned long i = 2; i < block_words(t); i += word_step(t))
        w[i] = pattern(t, i);
}

/* The tag is plausible and every patterned word is intact. */
static int intact(uint64_t *w, unsigned nharts) {
    const struct tag *t = (const struct tag *)w;
    if (!EXPECT(t->hart < nharts && (t->kind == KIND_PAGES || t->kind == KIND_OBJECT)))
        return 0;
    for (unsigned long i = 2; i < block_words(t); i += word_step(t))
        if (w[i] != pattern(t, i)) {
            printf("  block %p of hart %u #%u: word %lu overwritten\n", (void *)w, t->hart,
                   t->index, i);
            return EXPECT(w[i] == pattern(t, i));
        }
    return 1;
}

static void release(uint64_t *w, unsigned nharts) {
    if (!intact(w, nharts))
        return; /* leak it rather than free through a broken tag */
    const struct tag *t = (const struct tag *)w;
    if (t->kind == KIND_PAGES)
        uk_pfree(w, t->size);
    else
        uk_free(w);
}

static uint64_t *acquire(uint64_t r, unsigned hart, unsigned index) {
    struct tag t = {hart, index, KIND_OBJECT, 32 + (unsigned)((r >> 12) % 480)};
    uint64_t *w;
    if ((r >> 8) & 1) {
        t.kind = KIND_PAGES;
        t.size = 1 + (unsigned)((r >> 9) % 4); /* 3 exercises rounding up to 4 */
        w = uk_palloc(t.size);
    } else {
        w = uk_malloc(t.size);
    }
    if (!EXPECT(w != NULL))
        return NULL;
    *(struct tag *)w = t;
    fill(w);
    return w;
}

static void test_stress(unsigned hart, unsigned nharts) {
    uint64_t seed = 0x9e3779b97f4a7c15u * (hart + 1), *local[STRESS_LOCAL] = {0};
    unsigned index = 0;
    if (hart == 0)
        stress_pages_before = uk_pavailmem();
    barrier_all();
    for (unsigned it = 0; it < ALLOC_STRESS_ITERS; it++) {
        uint64_t r = rt_xorshift64(&seed);
        uint64_t **slot = &local[r % STRESS_LOCAL];
        if (!*slot) {
            *slot = acquire(r, hart, index++);
        } else if ((r >> 16) & 1) {
            release(*slot, nharts);
            *slot = NULL;
        } else {
            uint64_t *mine = *slot;
            *slot = __atomic_exchange_n(&stress_exchange[(r >> 20) % STRESS_EXCHANGE], mine,
                                        __ATOMIC_ACQ_REL);
            if (*slot && !intact(*slot, nharts))
                *slot = NULL;
        }
    }
    for (unsigned i = 0; i < STRESS_LOCAL; i++)
        if (local[i])
            release(local[i], nharts);
    barrier_all();
    for (unsigned i = hart; i < STRESS_EXCHANGE; i += nharts) {
        uint64_t *w = __atomic_exchange_n(&stress_exchange[i], NULL, __ATOMIC_ACQ_REL);
        if (w)
            release(w, nharts);
    }
}

static void test_no_page_lost(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    EXPECT_EQ(uk_pavailmem(), stress_pages_before);
    /* The lists agree with the counter: exactly that many pages can be taken. */
    EXPECT_EQ(take_everything(), stress_pages_before);
    EXPECT(uk_palloc(1) == NULL);
    give_everything_back();
    EXPECT_EQ(uk_pavailmem(), stress_pages_before);
}

static void test_stats(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    struct uk_alloc_stats s;
    uk_alloc_stats(&s);
    EXPECT(s.tot_nb_allocs > 0);
    EXPECT_EQ(s.tot_nb_allocs, s.tot_nb_frees + s.cur_nb_allocs);
    EXPECT_EQ(s.cur_nb_allocs, 0);
    EXPECT_EQ(s.cur_mem_use, 0);
    EXPECT(s.max_alloc_size >= s.min_alloc_size && s.min_alloc_size > 0);
    EXPECT(s.max_nb_allocs >= 1 && s.max_mem_use >= s.max_alloc_size);
    printf("  %lu allocs, %lu frees, peak %lu live / %lu bytes, %lu ENOMEM\n", s.tot_nb_allocs,
           s.tot_nb_frees, s.max_nb_allocs, (unsigned long)s.max_mem_use, s.nb_enomem);
}

static const struct test_case cases[] = {
    {"init", test_init, 0, NULL},
    {"one-page", test_one_page, 0, NULL},
    {"four-pages-aligned", test_four_pages_aligned, 0,
     UNLESS_PROVIDER_HAS(UK_ALLOC_CAP_SIZE_ALIGNED, "region pages are only page-aligned")},
    {"alignment", test_alignment, 0, NULL},
    {"zero-size", test_zero_size, 0, NULL},
    {"huge", test_huge, 0, NULL},
    {"calloc", test_calloc, 0, NULL},
    {"realloc", test_realloc, 0, NULL},
    {"exhaustion", test_exhaustion, 0,
     UNLESS_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES, "region never frees")},
    {"coalesce", test_coalesce, 0,
     UNLESS_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES, "region never frees")},
    {"addmem", test_addmem, 0, NULL},
    {"smp-stress", test_stress, TEST_ALL_HARTS, NULL},
    {"no-page-lost", test_no_page_lost, 0,
     UNLESS_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES, "region never frees")},
    {"stats", test_stats, 0, NULL},
};

int app_main(unsigned hart, unsigned nharts) {
    if (hart == 0)
        printf("alloc-tests: %s, %u harts, %u stress iterations\n", alloc_backend_name, nharts,
               (unsigned)ALLOC_STRESS_ITERS);
    return test_run(cases, sizeof(cases) / sizeof(cases[0]), hart, nharts);
}
#endif                      /* CONFIG_LIBUKALLOC */
