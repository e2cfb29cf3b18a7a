/*
 * Trap entry (mtvec, direct mode). Saves every GPR in a struct trap_frame on the interrupted
 * stack, calls trap_dispatch(frame), then restores from the frame, including mepc and mstatus,
 * so a handler may redirect the return and nested traps (an ecall inside a handler) are safe.
 */
#include <rt/trap_frame.h>

    .text
    .balign 4
    .globl trap_entry
trap_entry:
    addi    sp, sp, -TF_SIZE
    /* x2 (sp) is stored below, as its value before the trap. */
    .irp    n, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    sd      x\n, TF_REG(\n)(sp)
    .endr
    .irp    n, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    sd      x\n, TF_REG(\n)(sp)
    .endr
    sd      zero, TF_REG(0)(sp)
    addi    t0, sp, TF_SIZE
    sd      t0, TF_REG(2)(sp)
    csrr    t0, mepc
    sd      t0, TF_EPC(sp)
    csrr    t0, mcause
    sd      t0, TF_CAUSE(sp)
    csrr    t0, mtval
    sd      t0, TF_TVAL(sp)
    csrr    t0, mstatus
    sd      t0, TF_STATUS(sp)

    mv      a0, sp
    call    trap_dispatch

    ld      t0, TF_EPC(sp)
    csrw    mepc, t0
    ld      t0, TF_STATUS(sp)
    csrw    mstatus, t0
    .irp    n, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ld      x\n, TF_REG(\n)(sp)
    .endr
    .irp    n, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    ld      x\n, TF_REG(\n)(sp)
    .endr
    ld      sp, TF_REG(2)(sp)
    mret
