/*
 * Runtime-private, for assembly: the pieces of boot and trap entry both platforms' start.S and
 * trap.S are made of, written with rt/csr.h's names for the runtime's mode (CSR_IE, CSR_STATUS,
 * CSR_TVEC, STATUS_IE). What differs stays in plat/<platform>/: how harts are entered and
 * released (start.S), the trap CSRs and the return to the interrupted code (trap.S).
 */
#ifndef RUNTIME_ENTRY_H
#define RUNTIME_ENTRY_H

#include <contract.h>
#include <rt/csr.h>
#include <rt/hart.h>
#include <rt/trap_frame.h>

/* What every hart does first, with a0 = its hart id: no interrupts, FP usable (F/D trap while FS
 * is off), stack, trap vector and hart block. */
.macro hart_setup
    csrw    CSR_IE, zero
    li      t0, STATUS_IE | MSTATUS_FS
    csrc    CSR_STATUS, t0
    li      t0, MSTATUS_FS_INITIAL
    csrs    CSR_STATUS, t0

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
    csrw    CSR_TVEC, t0

    la      tp, hart_locals
    slli    t0, a0, HART_LOCAL_SHIFT
    add     tp, tp, t0
.endm

/* The boot hart, after hart_setup (a0 = its id, a1 = the FDT): clear .bss, store the id (hart_locals
 * lives in .bss, so only after the clear), runtime_boot(fdt), then on to enter_main. */
.macro boot_hart
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
.endm

/* enter_main, where every hart goes once set up, and hart_park: in the same section as the entry
 * points, so hart_setup's branch to hart_park stays short. */
.macro enter_main_and_park
enter_main:
    call    runtime_hart_main
    /* runtime_hart_main does not return; park in case it ever does. */

    .globl hart_park
hart_park:
    csrw    CSR_IE, zero
    csrci   CSR_STATUS, STATUS_IE
1:  wfi
    j       1b
.endm

/* The stacks: MAX_HARTS of HART_STACK_SIZE; hart h's stack ends at __stacks_end - h * size. */
.macro hart_stacks
    .section .stacks, "aw", @nobits
    .balign 4096
    .space  MAX_HARTS * HART_STACK_SIZE
.endm

/* `insn xN, TF_REG(N)(sp)` for every GPR but x0 and x2 (sp), which the trap frame's save and
 * restore handle on their own. */
.macro each_gpr_but_sp insn
    .irp    n, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    \insn   x\n, TF_REG(\n)(sp)
    .endr
    .irp    n, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    \insn   x\n, TF_REG(\n)(sp)
    .endr
.endm

/* Trap entry, up to the dispatcher: save every GPR in a struct trap_frame on the interrupted
 * stack (x2 as its value before the trap) and the trap CSRs of the runtime's mode, then call
 * trap_dispatch(frame). */
.macro trap_save_and_dispatch epc, cause, tval, status
    addi    sp, sp, -TF_SIZE
    each_gpr_but_sp sd
    sd      zero, TF_REG(0)(sp)
    addi    t0, sp, TF_SIZE
    sd      t0, TF_REG(2)(sp)
    csrr    t0, \epc
    sd      t0, TF_EPC(sp)
    csrr    t0, \cause
    sd      t0, TF_CAUSE(sp)
    csrr    t0, \tval
    sd      t0, TF_TVAL(sp)
    csrr    t0, \status
    sd      t0, TF_STATUS(sp)

    mv      a0, sp
    call    trap_dispatch
.endm

/* Trap return, after the platform has written back epc and status from the frame (a handler may
 * have changed them): every GPR from the frame, sp last. */
.macro trap_restore_gprs
    each_gpr_but_sp ld
    ld      sp, TF_REG(2)(sp)
.endm

#endif /* RUNTIME_ENTRY_H */
