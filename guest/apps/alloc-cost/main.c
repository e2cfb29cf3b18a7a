/*
 * The cost of an allocation pair, measured by the host: each hart makes a zero-length write
 * system call before and after COST_PAIRS pairs, and the machine times those calls exactly
 * (scripts/alloc_costs.py subtracts a run with COST_PAIRS = 0).
 * COST_KIND 0: uk_palloc(1) + uk_pfree; 1: uk_malloc(COST_SIZE) + uk_free.
 */
#include <alloc/alloc.h>
#include <rt/runtime.h>

#ifndef COST_PAIRS
#define COST_PAIRS 100
#endif
#ifndef COST_KIND
#define COST_KIND 0
#endif
#ifndef COST_SIZE
#define COST_SIZE 32
#endif

#ifndef CONFIG_LIBUKALLOC
ALLOC_APP_NEEDS_ALLOCATOR("alloc-cost")
#else

static void marker(void) {
    write(1, "", 0);
}

int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    if (hart == 0 && alloc_init() != 0)
        return 1;
    barrier_all();
    marker();
    for (unsigned i = 0; i < COST_PAIRS; i++) {
        if (COST_KIND == 0) {
            void *page = uk_palloc(1);
            if (!page)
                return 2;
            uk_pfree(page, 1);
        } else {
            void *object = uk_malloc(COST_SIZE);
            if (!object)
                return 3;
            uk_free(object);
        }
    }
    marker();
    barrier_all();
    return 0;
}
#endif
