/*
 * An app of one's own, outside the checkout: every hart takes pages and objects from the
 * image's allocator through Unikraft's API (uk/alloc.h), writes its hart id into them, checks
 * them, and frees the objects another hart allocated (a remote free); hart 0 checks at the end
 * that the page allocator got back every page it started with (unless a frontend keeps some).
 *
 * Build parameters: -D ROUNDS=N (default 20), -D BLOCKS=N blocks per round (default 8).
 */
#include <rt/runtime.h>
#include <uk/alloc.h>

#ifndef ROUNDS
#define ROUNDS 20
#endif
#ifndef BLOCKS
#define BLOCKS 8
#endif

#ifndef CONFIG_LIBUKALLOC
ALLOC_APP_NEEDS_ALLOCATOR("myapp")
#else

/* Hart h's blocks of this round, for hart h + 1 to free; shared, so not static. */
void *handoff[64][BLOCKS];
long pages_at_start;

static int fill_and_check(unsigned char *p, unsigned long bytes, unsigned char tag) {
    for (unsigned long i = 0; i < bytes; i += 64)
        p[i] = tag;
    for (unsigned long i = 0; i < bytes; i += 64)
        if (p[i] != tag)
            return 1;
    return 0;
}

int app_main(unsigned hart, unsigned nharts) {
    if (hart == 0) {
        /* The allocator is set up once, on hart 0, before the other harts may use it. */
        if (alloc_init() != 0) {
            printf("myapp: no allocator\n");
            return 1;
        }
        pages_at_start = uk_alloc_pavailmem(uk_alloc_get_default());
        printf("myapp: %s, %u harts, %ld free pages\n", alloc_backend_name, nharts, pages_at_start);
    }
    barrier_all();
    struct uk_alloc *a = uk_alloc_get_default();
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < BLOCKS; i++) {
            unsigned long pages = 1 + (unsigned long)((hart + i + round) % 3);
            unsigned char *p = uk_palloc(a, pages);
            unsigned char *o = uk_malloc(a, 24 + 40 * (unsigned long)i);
            if (!p || !o) {
                printf("myapp: hart %u: out of memory (errno %d)\n", hart, errno);
                return 2;
            }
            if (fill_and_check(p, pages * PAGE_SIZE, (unsigned char)hart) ||
                fill_and_check(o, 24, (unsigned char)hart)) {
                printf("myapp: hart %u: a block changed under it\n", hart);
                return 3;
            }
            uk_pfree(a, p, pages);
            handoff[hart][i] = o;
        }
        barrier_all();
        /* Free the next hart's objects: frees from another hart than the allocating one. */
        for (int i = 0; i < BLOCKS; i++)
            uk_free(a, handoff[(hart + 1) % nharts][i]);
        barrier_all();
    }
    if (hart == 0) {
        long now = uk_alloc_pavailmem(a);
        printf("myapp: %ld free pages at the end\n", now);
#ifndef UK_ALLOC_FRONTEND_INIT /* a frontend keeps the segments it took, by design */
        if (now != pages_at_start)
            return 4;
#endif
        printf("myapp: PASS\n");
    }
    return 0;
}
#endif
