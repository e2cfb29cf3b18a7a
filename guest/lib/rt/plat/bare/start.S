/*
 * Boot. Every hart enters _start at RAM_BASE with a0 = hart id and a1 = FDT address; mhartid is
 * never read (it is 0 on every unicorn instance). Hart 0 prepares memory and the runtime while
 * the others sleep, then releases them; all then enter runtime_hart_main. The steps both
 * platforms share are ../../entry.h's.
 */
#include "../../entry.h"

    /* Call frame information in .debug_frame (.eh_frame is discarded): ra undefined marks this
     * as the outermost frame, so a debugger's backtrace ends here cleanly. */
    .cfi_sections .debug_frame
    .section .text.entry, "ax", @progbits
    .globl _start
_start:
    .cfi_startproc
    .cfi_undefined ra
    hart_setup
    bnez    a0, secondary
    boot_hart

secondary:
    /* Sleep until hart 0 sets boot_released; it sends an IPI after setting it, and msip stays
     * pending until cleared, so a wake-up between the load and the wfi is not lost. */
    li      t0, MIE_MSIE
    csrw    mie, t0
    la      t1, boot_released
1:  lw      t0, 0(t1)
    bnez    t0, 2f
    wfi
    j       1b
2:  fence   r, rw
    csrw    mie, zero
    sd      a0, HART_LOCAL_ID(tp)

    enter_main_and_park
    .cfi_endproc

    hart_stacks

    /* In .data, not .bss: secondaries read it while hart 0 is still clearing .bss. */
    .section .data
    .globl boot_released
    .balign 4
boot_released:
    .word   0
