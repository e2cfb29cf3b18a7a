/*
 * free-race: the harts race to free into the same full pages of the allocator frontend, and to
 * map and unmap through the mmap shim at once. The frontend's counterpart of page-race.
 *
 * free-race, FR_ROUNDS rounds: every hart allocates FR_BLOCKS blocks of FR_SIZE bytes (a class
 * above the fast path's limit, 8 to a page: every malloc takes the slow path, and every 8 blocks
 * a page is found full and goes to its heap's full queue) and stamps them; after a barrier all
 * harts free them at once: block i of hart o is freed by hart (o + i) % nharts, so every page of
 * every heap gets frees from its owner and from the others at about the same time (in odd rounds
 * the odd harts go down the blocks, so a heap's pages are also freed into at both ends at once).
 * A hart's own block in a full page takes the owner's slow free (`used -= 1` beside the others'
 * decrements); another hart's free into it pushes onto the page's thread_free list and announces
 * the page (delayed free) on its owner's delayed list. Every FR_MALLOC_EVERY frees a hart also
 * mallocs a block of the same size ("fresh", kept for a round) and frees its neighbour's fresh
 * block of the round before: the malloc's slow path takes the heap's delayed list and the
 * thread_free lists of its pages while the others push onto them. After a barrier hart 0 checks
 * the heaps while their pages are still in use (used + lists == capacity on every page: a block
 * pushed while its owner took the list, or a decrement lost, shows here and only here, since only
 * a collect gives pages back and a page that empties goes back whole), and that the live blocks
 * are exactly the fresh ones; every hart checks its fresh blocks' stamps (a block handed out
 * twice shows another's). Delayed announcements lost or doubled show at the end (a page never
 * retired, or a list that loops).
 *
 * map-race, FR_MAP_ROUNDS rounds: the harts keep FR_MAP_LIVE mappings of 1 or 2 pages between
 * them (fewer if the shim's table, MMAP_SHIM_SLOTS records, would have no room left) and make
 * FR_MAP_OPS mmap calls between them: first each maps its share, then it replaces a random one of
 * its own at a time (check the stamp, munmap, which must succeed; mmap, stamp). The table is then
 * nearly full, so the harts' inserts probe through the same long runs of taken slots and meet on
 * the same free ones, and the shim's counters change on every hart at once; its addresses are
 * scattered over a range wider than the live pages, as the free pages are. After a barrier
 * everything is unmapped and the shim's counters must be what they were before the round.
 *
 * At the end, the frontend's check (frontend_check.h): no live block, no segment, no mapping and
 * no provider page held by the shim, the provider's pages back.
 */
#include <alloc/alloc.h>
#include <alloc/test.h>
#include <rt/runtime.h>

#ifndef FR_ROUNDS
#define FR_ROUNDS 12
#endif
#ifndef FR_BLOCKS
#define FR_BLOCKS 48 /* per hart and round */
#endif
#ifndef FR_SIZE
#define FR_SIZE 2048 /* above MI_DIRECT_MAX: every malloc takes the slow path; 8 to a page */
#endif
#ifndef FR_MALLOC_EVERY
#define FR_MALLOC_EVERY 2
#endif
#ifndef FR_MAP_ROUNDS
#define FR_MAP_ROUNDS 1
#endif
#ifndef FR_MAP_OPS
#define FR_MAP_OPS 2500 /* mmap calls per round, over all harts */
#endif
#ifndef FR_MAP_LIVE
#define FR_MAP_LIVE 1000 /* live mappings, over all harts (the shim's table: MMAP_SHIM_SLOTS) */
#endif

#ifndef CONFIG_LIBMIMALLOC
ALLOC_APP_NEEDS_FRONTEND("free-race")
#else
#include <alloc/frontend_check.h>

#define FR_FRESH ((FR_BLOCKS + FR_MALLOC_EVERY - 1) / FR_MALLOC_EVERY) /* per hart and round */
_Static_assert(FR_SIZE >= 16 && FR_MAP_LIVE >= 1 && FR_MAP_LIVE < MMAP_SHIM_SLOTS,
               "FR_SIZE, FR_MAP_LIVE");

unsigned long test_case_failures;
static long pages_at_start;

/* In .data: zero all the same, but boot need not clear them (the emulator loads them for free). */
#define FR_DATA __attribute__((section(".data.free_race")))
static unsigned long *blocks[MAX_HARTS][FR_BLOCKS] FR_DATA;
static unsigned long *fresh[2][MAX_HARTS][FR_FRESH] FR_DATA; /* by round parity */

#define WORDS(bytes) ((bytes) / sizeof(unsigned long))

static unsigned long stamp(unsigned kind, unsigned hart, unsigned round, unsigned i) {
    return 0xf4ee000000000000UL ^ ((unsigned long)kind << 44) ^ ((unsigned long)hart << 32) ^
           ((unsigned long)round << 16) ^ i;
}

static void put_stamp(unsigned long *p, size_t words, unsigned long s) {
    p[0] = p[words - 1] = s;
}

static int stamp_ok(const unsigned long *p, size_t words, unsigned long s, const char *what) {
    if (EXPECT(p[0] == s && p[words - 1] == s))
        return 1;
    printf("  hart %u: %s %p: stamp %lx, %lx, want %lx (handed out twice?)\n", hart_id(), what,
           (const void *)p, p[0], p[words - 1], s);
    return 0;
}

static void test_init(unsigned hart, unsigned nharts) {
    (void)hart, (void)nharts;
    if (EXPECT_EQ(alloc_init(), 0))
        pages_at_start = uk_pavailmem();
}

/* At once: the other harts would wait for this one at the next barrier. */
static void out_of_memory(const char *call, size_t len) {
    printf("FAIL free-race: hart %u: %s(%lu) failed\n", hart_id(), call, (unsigned long)len);
    exit(2);
}

static unsigned long *fresh_block(unsigned hart, unsigned round, unsigned k) {
    unsigned long *p = uk_malloc(FR_SIZE);
    if (!p)
        out_of_memory("malloc", FR_SIZE);
    put_stamp(p, WORDS(FR_SIZE), stamp(1, hart, round, k));
    return p;
}

/* The neighbour's fresh block k of the round before (its stamp checked), freed from here. */
static void free_old_fresh(unsigned hart, unsigned nharts, unsigned round, unsigned k) {
    if (round == 0)
        return;
    unsigned other = (hart + 1) % nharts;
    unsigned long *p = fresh[(round - 1) & 1][other][k];
    if (!p)
        return;
    stamp_ok(p, WORDS(FR_SIZE), stamp(1, other, round - 1, k), "fresh block");
    uk_free(p);
}

static void test_free_race(unsigned hart, unsigned nharts) {
    for (unsigned round = 0; round < FR_ROUNDS; round++) {
        for (unsigned i = 0; i < FR_BLOCKS; i++) {
            unsigned long *p = uk_malloc(FR_SIZE);
            if (!p)
                out_of_memory("malloc", FR_SIZE);
            put_stamp(p, WORDS(FR_SIZE), stamp(0, hart, round, i));
            blocks[hart][i] = p;
        }
        barrier_all();
        /* All at once: hart (o + i) % nharts frees block i of hart o. In even rounds every
         * hart goes up the blocks, so each page gets frees from its owner and from the others
         * at about the same time; in odd rounds the odd harts go down, so each heap's pages are
         * freed into, and announced to it, from both ends at once. */
        unsigned k = 0;
        for (unsigned s = 0; s < FR_BLOCKS; s++) {
            unsigned i = (round & 1) && (hart & 1) ? FR_BLOCKS - 1 - s : s;
            unsigned owner = (hart + nharts - i % nharts) % nharts;
            unsigned long *p = blocks[owner][i];
            stamp_ok(p, WORDS(FR_SIZE), stamp(0, owner, round, i), "block");
            uk_free(p);
            if (s % FR_MALLOC_EVERY == 0) {
                free_old_fresh(hart, nharts, round, k);
                fresh[round & 1][hart][k] = fresh_block(hart, round, k);
                k++;
            }
        }
        barrier_all();
        if (hart == 0) {
            /* Nobody is inside an allocator call; no page has been given back (only a collect
             * does that): every page of the round is still in use. */
            EXPECT_EQ(mi_check_heaps(), 0);
            EXPECT_EQ(mi_live_blocks(), (unsigned long)nharts * FR_FRESH);
        }
        for (unsigned j = 0; j < k; j++)
            if (fresh[round & 1][hart][j])
                stamp_ok(fresh[round & 1][hart][j], WORDS(FR_SIZE), stamp(1, hart, round, j),
                         "fresh block");
        barrier_all();
    }
    barrier_all();
    for (unsigned k = 0; k < FR_FRESH; k++)
        free_old_fresh(hart, nharts, FR_ROUNDS, k);
}

struct mapping {
    unsigned long *p;
    unsigned pages, id;
};

static struct mapping maps[FR_MAP_LIVE] FR_DATA; /* hart h's: from h * map_live */
static unsigned long map_live;                   /* per hart, this round (hart 0 sets it) */

static void map_one(unsigned hart, unsigned round, struct mapping *m, unsigned id, unsigned pages) {
    size_t len = pages * PAGE_SIZE;
    unsigned long *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_UNINITIALIZED, -1, 0);
    if (mmap_failed(p))
        out_of_memory("mmap", len);
    put_stamp(p, WORDS(len), stamp(2, hart, round, id));
    *m = (struct mapping){p, pages, id};
}

static void unmap_one(unsigned hart, unsigned round, struct mapping *m) {
    if (!m->p)
        return;
    size_t len = m->pages * PAGE_SIZE;
    stamp_ok(m->p, WORDS(len), stamp(2, hart, round, m->id), "mapping");
    int rc = munmap(m->p, len);
    if (!EXPECT_EQ(rc, 0))
        printf("  hart %u: munmap(%p, %lu) = %d\n", hart, (void *)m->p, (unsigned long)len, rc);
    m->p = NULL;
}

/* Every hart keeps map_live mappings of 1 or 2 pages: it maps them, then replaces a random one
 * at a time (unmap, map), so the addresses in the table are scattered over a range wider than
 * the live pages and the harts' inserts probe through the same runs of taken slots. */
static void test_map_race(unsigned hart, unsigned nharts) {
    static unsigned long mappings_before, pages_before;
    unsigned long rnd = 0x9e3779b97f4a7c15UL * (hart + 1);
    unsigned ops = (FR_MAP_OPS + nharts - 1) / nharts;
    for (unsigned round = 0; round < FR_MAP_ROUNDS; round++) {
        if (hart == 0) {
            mappings_before = __atomic_load_n(&mmap_shim_mappings, __ATOMIC_RELAXED);
            pages_before = __atomic_load_n(&mmap_shim_pages, __ATOMIC_RELAXED);
            /* the table holds the heaps' segments too: leave it a free slot */
            unsigned long room = MMAP_SHIM_SLOTS - 1 - mappings_before;
            map_live = (FR_MAP_LIVE < room ? FR_MAP_LIVE : room) / nharts; /* 0: no room */
        }
        barrier_all();
        unsigned live = (unsigned)map_live;
        for (unsigned j = 0; live && j < ops; j++) {
            unsigned long r = rt_xorshift64(&rnd);
            struct mapping *m = &maps[hart * live + (j < live ? j : r % live)];
            unmap_one(hart, round, m);
            map_one(hart, round, m, j, 1 + (unsigned)(r >> 32) % 2);
        }
        barrier_all();
        for (unsigned i = 0; i < live; i++)
            unmap_one(hart, round, &maps[hart * live + i]);
        barrier_all();
        if (hart == 0) {
            EXPECT_EQ(__atomic_load_n(&mmap_shim_mappings, __ATOMIC_RELAXED), mappings_before);
            EXPECT_EQ(__atomic_load_n(&mmap_shim_pages, __ATOMIC_RELAXED), pages_before);
        }
        barrier_all();
    }
}

static const struct test_case cases[] = {
    {"init", test_init, 0, NULL},
    {"free-race", test_free_race, TEST_ALL_HARTS, NULL},
    {"map-race", test_map_race, TEST_ALL_HARTS, NULL},
};

int app_main(unsigned hart, unsigned nharts) {
    if (hart == 0)
        printf("free-race: %s, %u harts, %u rounds of %u blocks of %u bytes, %u map rounds of %u\n",
               alloc_backend_name, nharts, (unsigned)FR_ROUNDS, (unsigned)FR_BLOCKS,
               (unsigned)FR_SIZE, (unsigned)FR_MAP_ROUNDS, (unsigned)FR_MAP_OPS);
    int rc = test_run(cases, sizeof(cases) / sizeof(cases[0]), hart, nharts);
    rc |= frontend_check_end(hart, pages_at_start);
    if (hart == 0 && !rc)
        printf("free-race: PASS\n");
    return rc;
}
#endif /* CONFIG_LIBMIMALLOC */
