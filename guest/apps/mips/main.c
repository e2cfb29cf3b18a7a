/*
 * A steady instruction mix for measuring emulator speed: no system calls and no wfi until
 * the loop ends, so a bare unicorn loop can run the same instructions (scripts/bench_machine.py).
 */
#include "rt/runtime.h"

#ifndef MIPS_ITERS
#define MIPS_ITERS 1000000
#endif

#define WORDS 256

static unsigned long shared_counter;
static unsigned long scratch[MAX_HARTS][WORDS];

int app_main(unsigned hart, unsigned nharts) {
    unsigned long *mine = scratch[hart];
    unsigned long x = hart + 1;
    for (unsigned long i = 0; i < MIPS_ITERS; i++) {
        x = x * 6364136223846793005UL + 1442695040888963407UL;
        mine[i % WORDS] ^= x >> 7;
        if ((i & 63) == 0)
            __atomic_fetch_add(&shared_counter, 1, __ATOMIC_RELAXED);
    }
    barrier_all();
    if (hart == 0) {
        unsigned long expected = (unsigned long)nharts * ((MIPS_ITERS + 63) / 64);
        printf("mips: %lu atomic adds, expected %lu\n", shared_counter, expected);
        return shared_counter == expected ? 0 : 1;
    }
    return 0;
}
