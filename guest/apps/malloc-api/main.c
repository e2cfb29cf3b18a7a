/*
 * API conformance of the allocator frontend through the uk_* entry points (and of the mmap
 * shim through mmap/munmap), in the alloc/test.h harness: alignment and usable size of every
 * size class, calloc zeroing and overflow, realloc grow/shrink/NULL/0, memalign and
 * posix_memalign for every power of two up to the segment size, free(NULL), pages through the
 * provider, cross-hart frees, and the shim's errors. Ends with `N passed, N failed`, then the
 * frontend must hold no block and the provider all its pages (frontend_check.h).
 */
#include <alloc/alloc.h>
#include <alloc/test.h>
#include <rt/runtime.h>

#ifndef CONFIG_LIBMIMALLOC
ALLOC_APP_NEEDS_FRONTEND("malloc-api")
#else
#include <alloc/frontend_check.h>
#include <alloc/mmap.h>

#define SEGMENT (256UL << 10) /* the frontend's segment size: the largest alignment asked */

unsigned long test_case_failures;
long api_pages_at_start;

static size_t usable(void *p) {
    struct uk_alloc *a = uk_alloc_default();
    return a->getsize(a, p);
}

static int filled_with(const unsigned char *p, unsigned char c, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return 0;
    return 1;
}

/* Sizes around every class boundary up to the small limit, then some huge ones. */
static const size_t sizes[] = {
    0,    1,    8,    15,   16,   17,   31,   32,   33,    48,    63,     64,     65,
    80,   96,   112,  127,  128,  129,  160,  161,  192,   224,   255,    256,    257,
    320,  384,  448,  511,  512,  513,  640,  768,  896,   1023,  1024,   1025,   1280,
    1536, 1792, 2047, 2048, 2049, 3000, 4096, 8192, 12345, 65536, 200000, 300000,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void test_classes(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    void *held[NSIZES];
    for (unsigned i = 0; i < NSIZES; i++) {
        unsigned char *p = held[i] = uk_malloc(sizes[i]);
        if (!EXPECT(p != NULL))
            continue;
        EXPECT(((uintptr_t)p & 15) == 0);
        size_t n = usable(p);
        EXPECT(n >= sizes[i] && n >= 1);
        memset(p, (int)(i + 1), n); /* the whole usable size is ours */
    }
    for (unsigned i = 0; i < NSIZES; i++)
        if (held[i]) {
            EXPECT(filled_with(held[i], (unsigned char)(i + 1), usable(held[i])));
            uk_free(held[i]);
        }
    void *a = uk_malloc(0), *b = uk_malloc(0);
    EXPECT(a && b && a != b);
    uk_free(a);
    uk_free(b);
    uk_free(NULL);
}

static void test_calloc(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    static const size_t n[] = {1, 24, 100, 1000, 3000, 70000};
    for (unsigned i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
        unsigned char *dirty = uk_malloc(n[i]);
        if (!EXPECT(dirty != NULL))
            return;
        memset(dirty, 0xa5, n[i]);
        uk_free(dirty); /* the next block of this class is likely the same, dirty one */
        unsigned char *p = uk_calloc(1, n[i]);
        if (EXPECT(p != NULL))
            EXPECT(filled_with(p, 0, n[i]));
        uk_free(p);
    }
    EXPECT(uk_calloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
    EXPECT(uk_calloc(~(size_t)0, 2) == NULL);
    void *z = uk_calloc(0, 8);
    EXPECT(z != NULL);
    uk_free(z);
}

static void test_realloc(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    unsigned char *p = uk_realloc(NULL, 40);
    if (!EXPECT(p != NULL))
        return;
    for (int i = 0; i < 40; i++)
        p[i] = (unsigned char)i;
    static const size_t steps[] = {100, 2000, 5000, 300000, 600, 24, 8};
    size_t kept = 40;
    for (unsigned s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        unsigned char *q = uk_realloc(p, steps[s]);
        if (!EXPECT(q != NULL))
            return;
        size_t check = kept < steps[s] ? kept : steps[s];
        for (size_t i = 0; i < check && i < 40; i++)
            if (!EXPECT(q[i] == (unsigned char)i))
                break;
        EXPECT(usable(q) >= steps[s]);
        p = q;
        kept = check;
    }
    EXPECT(uk_realloc(p, 0) == NULL); /* frees p */
}

static void test_memalign(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    static const size_t n[] = {1, 100, 3000};
    for (size_t align = 8; align <= SEGMENT; align <<= 1)
        for (unsigned i = 0; i < 3; i++) {
            void *p = NULL;
            if (!EXPECT(uk_posix_memalign(&p, align, n[i]) == 0) || !EXPECT(p != NULL))
                continue;
            EXPECT(((uintptr_t)p & (align - 1)) == 0);
            EXPECT(usable(p) >= n[i]);
            memset(p, 0x5a, n[i]);
            void *q = uk_memalign(align, n[i]);
            if (EXPECT(q != NULL))
                EXPECT(((uintptr_t)q & (align - 1)) == 0 && q != p);
            uk_free(q);
            uk_free(p);
        }
    void *p = (void *)1;
    EXPECT(uk_posix_memalign(&p, 24, 8) == ERRNO_EINVAL);
    EXPECT(uk_posix_memalign(&p, 4, 8) == ERRNO_EINVAL);
    EXPECT(uk_posix_memalign(&p, 0, 8) == ERRNO_EINVAL);
    EXPECT(p == (void *)1); /* untouched on failure */
    EXPECT(uk_memalign(48, 8) == NULL);
}

static void test_pages(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    long before = uk_pavailmem();
    void *p = uk_palloc(3);
    if (EXPECT(p != NULL)) {
        EXPECT(((uintptr_t)p & (PAGE_SIZE - 1)) == 0);
        uk_pfree(p, 3);
    }
#if UK_ALLOC_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES)
    EXPECT_EQ(uk_pavailmem(), before);
#else
    (void)before;
#endif
}

static void test_mmap(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    const int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;
    unsigned long *p = mmap(NULL, 3 * PAGE_SIZE, rw, anon, -1, 0);
    if (EXPECT(!mmap_failed(p))) {
        EXPECT(((uintptr_t)p & (PAGE_SIZE - 1)) == 0);
        EXPECT(filled_with((unsigned char *)p, 0, 3 * PAGE_SIZE));
        EXPECT_EQ(munmap(p, 2 * PAGE_SIZE), -ERRNO_EINVAL); /* not the whole mapping */
        EXPECT_EQ(munmap(p, 3 * PAGE_SIZE), 0);
        EXPECT_EQ(munmap(p, 3 * PAGE_SIZE), -ERRNO_EINVAL); /* not mapped any more */
    }
    void *s = mmap(NULL, SEGMENT, rw, anon | MAP_UNINITIALIZED, -1, 0);
    if (EXPECT(!mmap_failed(s))) {
        EXPECT(((uintptr_t)s & (SEGMENT - 1)) == 0);
        EXPECT_EQ(munmap(s, SEGMENT), 0);
    }
    EXPECT_EQ((long)mmap(NULL, 0, rw, anon, -1, 0), -ERRNO_EINVAL);
    EXPECT_EQ((long)mmap(NULL, 4096, rw, MAP_SHARED | MAP_ANONYMOUS, -1, 0), -ERRNO_EINVAL);
    EXPECT_EQ((long)mmap(NULL, 4096, rw, MAP_PRIVATE, 3, 0), -ERRNO_EINVAL);
    EXPECT_EQ((long)mmap(NULL, 4096, rw, anon | MAP_FIXED, -1, 0), -ERRNO_EINVAL);
    EXPECT_EQ((long)mmap(NULL, 4096, rw, anon, -1, 4096), -ERRNO_EINVAL);
    EXPECT_EQ((long)mmap(NULL, 1UL << 41, rw, anon, -1, 0), -ERRNO_ENOMEM);
    EXPECT_EQ(munmap((void *)0x1001, 4096), -ERRNO_EINVAL);
    EXPECT_EQ(munmap(NULL, 0), -ERRNO_EINVAL);
}

/* Each hart allocates, the next one frees: every free is remote. */
#define CROSS 24
void *api_cross[MAX_HARTS][CROSS];

static void test_cross_hart(unsigned hart, unsigned nharts) {
    for (unsigned i = 0; i < CROSS; i++) {
        unsigned long *p = uk_malloc(16 + 16 * (i % 6));
        if (!EXPECT(p != NULL))
            return;
        p[0] = hart * 1000 + i;
        api_cross[hart][i] = p;
    }
    barrier_all();
    unsigned from = (hart + 1) % nharts;
    for (unsigned i = 0; i < CROSS; i++) {
        unsigned long *p = api_cross[from][i];
        if (p && EXPECT(p[0] == from * 1000 + i))
            uk_free(p);
    }
}

static const struct test_case cases[] = {
    {"size-classes", test_classes, 0, NULL},
    {"calloc", test_calloc, 0, NULL},
    {"realloc", test_realloc, 0, NULL},
    {"memalign", test_memalign, 0, NULL},
    {"pages-through-provider", test_pages, 0, NULL},
    {"mmap-shim", test_mmap, 0, NULL},
    {"cross-hart-free", test_cross_hart, TEST_ALL_HARTS, NULL},
};

int app_main(unsigned hart, unsigned nharts) {
    if (hart == 0) {
        if (alloc_init() != 0)
            return 1;
        api_pages_at_start = uk_pavailmem();
        printf("malloc-api: %s over %s, %u harts\n", "mimalloc", alloc_backend_name, nharts);
    }
    int rc = test_run(cases, sizeof(cases) / sizeof(cases[0]), hart, nharts);
    if (frontend_check_end(hart, api_pages_at_start))
        rc = rc ? rc : 1;
    return rc;
}
#endif
