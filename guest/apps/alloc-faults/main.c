/*
 * alloc-faults: runs with one planted mistake each, so that every rule of the host's allocation
 * oracle can be seen failing. FAULT picks an app-level misuse; ALLOC_BUG (bbuddy.c, ifpages.c;
 * guest/lib/ukalloc/README.md) plants a bug in the allocator itself. Both are tokens:
 *
 *   python -m emulator run --app alloc-faults --config bbuddy-spin --harts 2 -D FAULT=leak
 *   python -m emulator run --app alloc-faults --config bbuddy-spin --harts 2 -D ALLOC_BUG=overlap
 *
 * Every run, whatever FAULT is:
 *   1. hart 0 alone (the other harts wait at a barrier), the probe; its calls are the first
 *      allocator calls of the run, so the planted allocator bugs fire at known calls:
 *        p1..p4 = uk_palloc(1) x4, m = uk_memalign(64, 100), q = uk_palloc(2), uk_pfree(q, 2),
 *        uk_free(m), uk_pfree(p1..p4, 1);
 *   2. every hart: o = uk_malloc(48 + 16 * hart), z = uk_calloc(4, 32), g = uk_palloc(1), writes
 *      them, uk_pfree(g, 1), uk_free(z), uk_free(o);
 *   3. hart FAULT_HART (0 by default; hart 0 when there are not that many harts) prints
 *      `alloc-faults: hart H plants FAULT` and makes the faulty calls below;
 *   4. hart 0 prints the free page count before step 1 and after step 3.
 *
 * What the oracle should report (H = FAULT_HART):
 *   FAULT=none          nothing: everything allocated is freed once, with the right size; 0.
 *   FAULT=double_free   p = uk_malloc(100); uk_free(p); uk_free(p): a double free of p at the
 *                       second uk_free on hart H, before the allocator runs (bbuddy itself
 *                       would panic there: the header's magic is gone).
 *   FAULT=invalid_free  p = uk_malloc(64); uk_free(p + 16): a free of a pointer that no
 *                       allocation returned (16 bytes into p's live block) on hart H; then
 *                       uk_free(p), which is correct.
 *   FAULT=leak          hart 0 and hart 1 (if there are 2 harts or more) each make
 *                       uk_malloc(48) and uk_palloc(2) and never free them; the app returns 0.
 *                       At exit: 2 live blocks per such hart, 48 bytes and 2 pages.
 *   FAULT=pfree_count   p = uk_palloc(4); uk_pfree(p, 2): a page-count mismatch (allocated 4,
 *                       freed 2) at the uk_pfree on hart H. (bbuddy accepts it, and pages
 *                       p+2..p+3 stay allocated for good; bbuddy-lockfree panics.)
 * With ALLOC_BUG set and FAULT=none (overlap, lost_pages: the locked and unlocked bbuddy
 * configurations; misalign: those and bbuddy-lockfree; elsewhere the bug is compiled out):
 *   overlap      p4 == p3: the 4th uk_palloc(1) of step 1 (the run's 4th palloc) returns a
 *                page that is still live. Without the oracle bbuddy panics at uk_pfree(p4, 1)
 *                (to it, a double free).
 *   misalign     m = run base + 80: uk_memalign(64, 100) returns a pointer aligned only to 16.
 *   lost_pages   uk_pfree(q, 2) loses q's 2 pages (and step 2's objects are 1 page each, so
 *                nothing else is lost): the page count after is 2 below the count before.
 */
#include <alloc/alloc.h>
#include <rt/runtime.h>

#ifndef FAULT
#define FAULT none
#endif
#ifndef FAULT_HART
#define FAULT_HART 0
#endif

#define FAULT_ID_none 1
#define FAULT_ID_double_free 2
#define FAULT_ID_invalid_free 3
#define FAULT_ID_leak 4
#define FAULT_ID_pfree_count 5
#define FAULT_ID ALLOC_CAT(FAULT_ID_, FAULT)
#if FAULT_ID < 1 || FAULT_ID > 5
#error "FAULT must be none, double_free, invalid_free, leak or pfree_count"
#endif

#ifdef ALLOC_BUG
#define PLANTED_BUG ALLOC_STR(ALLOC_BUG)
#else
#define PLANTED_BUG "none"
#endif

#ifndef CONFIG_LIBUKALLOC
ALLOC_APP_NEEDS_ALLOCATOR("alloc-faults")
#else

/* Step 1, hart 0 alone: the calls the planted allocator bugs act on. */
static int probe(void) {
    void *page[4];
    for (int i = 0; i < 4; i++)
        if (!(page[i] = uk_palloc(1)))
            return 2;
    void *aligned = uk_memalign(64, 100);
    void *pair = uk_palloc(2);
    if (!aligned || !pair)
        return 3;
    uk_pfree(pair, 2);
    uk_free(aligned);
    for (int i = 0; i < 4; i++)
        uk_pfree(page[i], 1);
    return 0;
}

/* Step 2, every hart: correct use, so the fault is not the only thing in the trace. */
static int exercise(unsigned hart) {
    size_t size = 48 + 16 * hart;
    char *object = uk_malloc(size);
    char *zeroed = uk_calloc(4, 32);
    char *page = uk_palloc(1);
    if (!object || !zeroed || !page)
        return 4;
    memset(object, (int)hart, size);
    zeroed[0] = (char)hart;
    page[0] = (char)hart;
    uk_pfree(page, 1);
    uk_free(zeroed);
    uk_free(object);
    return 0;
}

/* Step 3 on the faulty hart (leak: on harts 0 and 1). */
static int plant(unsigned hart, unsigned fault_hart) {
#if FAULT_ID == FAULT_ID_leak
    (void)fault_hart;
    if (hart > 1)
        return 0;
    printf("alloc-faults: hart %u plants leak\n", hart);
    if (!uk_malloc(48) || !uk_palloc(2))
        return 5;
#else
    if (hart != fault_hart)
        return 0;
#if FAULT_ID != FAULT_ID_none
    printf("alloc-faults: hart %u plants " ALLOC_STR(FAULT) "\n", hart);
#endif
#if FAULT_ID == FAULT_ID_double_free
    void *p = uk_malloc(100);
    if (!p)
        return 5;
    uk_free(p);
    uk_free(p);
#elif FAULT_ID == FAULT_ID_invalid_free
    char *p = uk_malloc(64);
    if (!p)
        return 5;
    uk_free(p + 16);
    uk_free(p);
#elif FAULT_ID == FAULT_ID_pfree_count
    void *p = uk_palloc(4);
    if (!p)
        return 5;
    uk_pfree(p, 2);
#endif
#endif
    return 0;
}

static long pages_before;

int app_main(unsigned hart, unsigned nharts) {
    unsigned fault_hart = FAULT_HART < nharts ? FAULT_HART : 0;
    int rc = 0;
    if (hart == 0) {
        if (alloc_init() != 0)
            return 1;
        printf("alloc-faults: %s, %u harts, FAULT=" ALLOC_STR(FAULT) " ALLOC_BUG=" PLANTED_BUG "\n",
               alloc_backend_name, nharts);
        pages_before = uk_pavailmem();
        rc = probe();
    }
    barrier_all();
    if (!rc)
        rc = exercise(hart);
    barrier_all();
    if (!rc)
        rc = plant(hart, fault_hart);
    barrier_all();
    if (hart == 0)
        printf("alloc-faults: free pages %ld before, %ld after\n", pages_before, uk_pavailmem());
    return rc;
}
#endif
