/*
 * The cost of the allocator frontend's operations, measured by the host: every measured
 * section sits between two zero-length write system calls (markers) and is preceded by an
 * empty section (two markers with nothing between), so scripts/frontend_costs.py gets each
 * section's exact instruction count by subtracting the empty one. COST_KIND:
 *
 *   0  COST_REPS sections of one mi_malloc(COST_SIZE) + mi_free pair on the owning hart (after
 *      one warm-up pair): the frontend's own fast path;
 *   1  the same through uk_malloc / uk_free;
 *   2  remote free (2 harts): hart 0 allocates COST_REPS blocks (plus one it keeps, so the page
 *      is not given back); hart 1 frees each in a section of its own; then hart 0 runs
 *      mi_collect in one section (taking the whole thread_free list back);
 *   3  segment refill: COST_REPS rounds of a section holding the first malloc on an empty heap
 *      (mmap of a segment through the shim, segment and page set-up), then free + mi_collect,
 *      which unmaps the segment again (outside the sections).
 */
#include <alloc/alloc.h>
#include <rt/runtime.h>

#ifndef COST_KIND
#define COST_KIND 0
#endif
#ifndef COST_SIZE
#define COST_SIZE 32
#endif
#ifndef COST_REPS
#define COST_REPS 20
#endif

#ifndef CONFIG_LIBMIMALLOC
ALLOC_APP_NEEDS_FRONTEND("frontend-cost")
#else
#include <alloc/frontend.h>

void *cost_blocks[COST_REPS];

static __attribute__((noinline)) void marker(void) {
    write(1, "", 0);
}

static void empty_section(void) {
    marker();
    marker();
}

int app_main(unsigned hart, unsigned nharts) {
    if (hart == 0 && alloc_init() != 0)
        return 1;
    barrier_all();
    if (COST_KIND == 0 || COST_KIND == 1) {
        if (hart != 0)
            return 0;
        void *warm = COST_KIND == 0 ? mi_malloc(COST_SIZE) : uk_malloc(COST_SIZE);
        COST_KIND == 0 ? mi_free(warm) : uk_free(warm);
        for (unsigned i = 0; i < COST_REPS; i++) {
            empty_section();
            marker();
            if (COST_KIND == 0) {
                void *p = mi_malloc(COST_SIZE);
                mi_free(p);
            } else {
                void *p = uk_malloc(COST_SIZE);
                uk_free(p);
            }
            marker();
        }
    } else if (COST_KIND == 2) {
        if (nharts < 2)
            return 1;
        void *keep = NULL;
        if (hart == 0) {
            keep = uk_malloc(COST_SIZE);
            for (unsigned i = 0; i < COST_REPS; i++)
                cost_blocks[i] = uk_malloc(COST_SIZE);
        }
        barrier_all();
        if (hart == 1)
            for (unsigned i = 0; i < COST_REPS; i++) {
                void *p = cost_blocks[i];
                empty_section();
                marker();
                uk_free(p);
                marker();
            }
        barrier_all();
        if (hart == 0) {
            empty_section();
            marker();
            mi_collect();
            marker();
            uk_free(keep);
            mi_collect();
        }
    } else if (COST_KIND == 3) {
        if (hart != 0)
            return 0;
        for (unsigned i = 0; i < COST_REPS; i++) {
            empty_section();
            marker();
            void *p = uk_malloc(COST_SIZE);
            marker();
            uk_free(p);
            mi_collect();
            if (mi_live_segments() != 0)
                return 2;
        }
    }
    return 0;
}
#endif
