/*
 * Boot in S-mode under SBI firmware. The firmware enters _start (first at KERNEL_BASE) on one hart,
 * any hart, with a0 = its hart id and a1 = the FDT address; that hart prepares memory and the
 * runtime, then starts the others through SBI HSM at hart_start_entry (a0 = hart id). All then
 * enter runtime_hart_main. sstatus.SIE is 0 and satp is 0 (no paging) on entry, as SBI promises.
 */
#include <contract.h>
#include <rt/csr.h>
#include <rt/hart.h>

/* What every hart does first: no interrupts, FP usable, stack, trap vector and hart block by a0. */
.macro hart_setup
    csrw    sie, zero
    li      t0, SSTATUS_SIE | MSTATUS_FS
    csrc    sstatus, t0
    li      t0, MSTATUS_FS_INITIAL
    csrs    sstatus, t0

    /* Harts beyond the runtime's tables have no stack or block: keep them out for good. */
    li      t0, MAX_HARTS
    bgeu    a0, t0, hart_park

    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop

    la      sp, __stacks_end
    slli    t0, a0, HART_STACK_SHIFT
    sub     sp, sp, t0

    la      t0, trap_entry
    csrw    stvec, t0

    la      tp, hart_locals
    slli    t0, a0, HART_LOCAL_SHIFT
    add     tp, tp, t0
.endm

    .section .text.entry, "ax", @progbits
    .globl _start
_start:
    hart_setup

    /* hart_locals lives in .bss, so the id is stored only after the clear. */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  sd      a0, HART_LOCAL_ID(tp)
    mv      a0, a1
    call    runtime_boot
    j       enter_main

    /* A hart runtime_boot started with SBI HSM hart_start: a0 = hart id, a1 unused. In the same
     * section as _start, so hart_setup's branch to hart_park stays short. */
    .balign 4
    .globl hart_start_entry
hart_start_entry:
    hart_setup
    /* Pairs with the release fence in runtime_boot before it started this hart. */
    fence   r, rw
    sd      a0, HART_LOCAL_ID(tp)

enter_main:
    call    runtime_hart_main
    /* runtime_hart_main does not return; park in case it ever does. */

    .globl hart_park
hart_park:
    csrw    sie, zero
    csrci   sstatus, SSTATUS_SIE
1:  wfi
    j       1b

    /* The stacks: MAX_HARTS of HART_STACK_SIZE; hart h's stack ends at __stacks_end - h * size. */
    .section .stacks, "aw", @nobits
    .balign 4096
    .space  MAX_HARTS * HART_STACK_SIZE
