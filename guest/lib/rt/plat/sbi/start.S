/*
 * Boot in S-mode under SBI firmware. The firmware enters _start (first at KERNEL_BASE) on one hart,
 * any hart, with a0 = its hart id and a1 = the FDT address; that hart prepares memory and the
 * runtime, then starts the others through SBI HSM at hart_start_entry (a0 = hart id). All then
 * enter runtime_hart_main. sstatus.SIE is 0 and satp is 0 (no paging) on entry, as SBI promises.
 * The steps both platforms share are ../../entry.h's.
 */
#include "../../entry.h"

    .section .text.entry, "ax", @progbits
    .globl _start
_start:
    hart_setup
    boot_hart

    /* A hart runtime_boot started with SBI HSM hart_start: a0 = hart id, a1 unused. In the same
     * section as _start, so hart_setup's branch to hart_park stays short. */
    .balign 4
    .globl hart_start_entry
hart_start_entry:
    hart_setup
    /* Pairs with the release fence in runtime_boot before it started this hart. */
    fence   r, rw
    sd      a0, HART_LOCAL_ID(tp)

    enter_main_and_park

    hart_stacks
