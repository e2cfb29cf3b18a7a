/* After boot, on every hart: the app, then the results, and the end of the run from hart 0. */
#include "boot.h"

#include <rt/runtime.h>

/* Owned by hart.c; written by the platform's runtime_boot before any hart gets here. */
extern unsigned runtime_hart_count;

static int first_failure(void) {
    for (unsigned h = 0; h < runtime_hart_count; h++) {
        while (!__atomic_load_n(&hart_locals[h].done, __ATOMIC_ACQUIRE))
            ;
        if (hart_locals[h].result != 0)
            return hart_locals[h].result;
    }
    return 0;
}

void runtime_hart_main(void) {
    struct hart_local *self = this_hart();

    /* Drop the boot wake-up IPI (plat/bare: hart 0 releases the others with one). Hart 0 sends
     * those one by one before it reaches the first barrier, so only after it is each one surely
     * there to clear; the second barrier keeps every app IPI after every clear. */
    barrier_all();
    (void)ipi_take();
    barrier_all();

    self->result = app_main(hart_id(), runtime_hart_count);

    /* Secondaries publish and park at once rather than spin in a barrier, so finished harts
     * stop costing instructions; only hart 0 waits, and it has to anyway. */
    __atomic_store_n(&self->done, 1, __ATOMIC_RELEASE);
    if (hart_id() != 0)
        hart_park();
    exit(first_failure());
}
