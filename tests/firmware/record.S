/*
 * A minimal M-mode firmware: each hart records the registers the reset ROM left it (a0, a1, a2)
 * in boot_regs[a0], then either enters the kernel as fw_dynamic does (next_addr from the info
 * block a2 points at, still in M mode) or, built with -DSPIN, spins there for ever.
 */
#include "contract.h"

    .section .text.entry, "ax"
    .globl _start
_start:
    la      t0, boot_regs
    slli    t1, a0, 5
    add     t0, t0, t1
    sd      a0, 0(t0)
    sd      a1, 8(t0)
    sd      a2, 16(t0)
    li      t1, 1
    sd      t1, 24(t0)
#ifdef SPIN
1:  j       1b
#else
    ld      t0, 16(a2)
    jr      t0
#endif

    .section .bss
    .balign 8
    .globl boot_regs
boot_regs:
    .space  32 * MAX_HARTS
