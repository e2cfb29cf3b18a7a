/*
 * The end-of-run check of the frontend apps (malloc-api, stress, prodcons, free-race): once every
 * hart has freed everything, hart 0 checks the heaps' invariants (mi_check_heaps), each hart
 * collects its own heap (between barriers), then hart 0 checks the invariants again, that no
 * block is live, no segment and no mapping is left (both shim counters, mappings and provider
 * pages held, back at 0), and that the provider has as many free pages as right after alloc_init
 * (not for region, which never takes pages back). A failure prints one `FAIL frontend: ...` line
 * and makes the app return 1.
 */
#ifndef ALLOC_FRONTEND_CHECK_H
#define ALLOC_FRONTEND_CHECK_H

#include <alloc/frontend.h>
#include <alloc/mmap.h>
#include <rt/runtime.h>

/* Call on every hart, with the provider's free pages right after alloc_init (hart 0's value). */
static inline int frontend_check_end(unsigned hart, long pages_at_start) {
    int bad = 0;
    barrier_all();
    if (hart == 0 && mi_check_heaps()) /* before collect: blocks still on all three lists */
        bad = 1;
    barrier_all();
    mi_collect();
    barrier_all();
    if (hart != 0)
        return 0;
    if (mi_check_heaps())
        bad = 1;
    unsigned long live = mi_live_blocks(), segments = mi_live_segments();
    unsigned long mappings = __atomic_load_n(&mmap_shim_mappings, __ATOMIC_RELAXED);
    unsigned long shim_pages = __atomic_load_n(&mmap_shim_pages, __ATOMIC_RELAXED);
    long pages = uk_pavailmem();
    if (live)
        bad = printf("FAIL frontend: %lu blocks still live after collect\n", live);
    if (segments)
        bad = printf("FAIL frontend: %lu segments still mapped after collect\n", segments);
    if (mappings)
        bad = printf("FAIL frontend: the mmap shim still has %lu mappings\n", mappings);
    if (shim_pages) /* with no mapping left, the shim holds no provider page */
        bad = printf("FAIL frontend: the mmap shim still holds %lu provider pages\n", shim_pages);
#if !UK_ALLOC_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES) /* region, the one bundled */
    printf("frontend: provider region never takes pages back: %ld free pages, %ld at start\n",
           pages, pages_at_start);
#else
    if (pages != pages_at_start)
        bad = printf("FAIL frontend: provider has %ld free pages, %ld at start\n", pages,
                     pages_at_start);
#endif
    struct mi_counters c;
    mi_counters(&c);
    if (!bad)
        printf("frontend: 0 live blocks, 0 segments, provider pages as at start "
               "(%lu segment maps, %lu remote frees, %lu delayed pages)\n",
               c.segment_maps, c.remote_frees, c.delayed_taken);
    return bad ? 1 : 0;
}

#endif /* ALLOC_FRONTEND_CHECK_H */
