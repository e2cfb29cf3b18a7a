/*
 * An exactly known amount of work: COUNT_LOOP_ITERS iterations of `addi; bnez` on hart 0. Two
 * builds with different COUNT_LOOP_ITERS must differ by exactly 2 instructions per iteration,
 * so nothing else here may depend on the value (nothing prints it, for instance).
 */
#include <rt/runtime.h>

#ifndef COUNT_LOOP_ITERS
#define COUNT_LOOP_ITERS 1000
#endif

#if COUNT_LOOP_ITERS < 1 || COUNT_LOOP_ITERS > 0x7ffff7ff
#error "COUNT_LOOP_ITERS must be 1..0x7ffff7ff (zero would loop 2^64 times)"
#endif

/* The count is loaded with lui + addiw rather than `li`: li takes one, two or more instructions
 * depending on the value, which would break the two-per-iteration difference. The global labels
 * let the host find the loop. Not inlined, so the labels exist exactly once. */
__attribute__((noinline)) static void count_loop(void) {
    __asm__ volatile("lui t0, %%hi(%0)\n"
                     "addiw t0, t0, %%lo(%0)\n"
                     ".globl count_loop_body\n"
                     "count_loop_body:\n"
                     "1: addi t0, t0, -1\n"
                     "bnez t0, 1b\n"
                     ".globl count_loop_done\n"
                     "count_loop_done:\n" ::"i"(COUNT_LOOP_ITERS)
                     : "t0");
}

int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    if (hart == 0)
        count_loop();
    return 0;
}
