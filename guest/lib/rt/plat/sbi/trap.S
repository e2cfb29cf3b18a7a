/*
 * Trap entry under SBI firmware (stvec, direct mode): the traps the firmware delegates to S-mode
 * and those it hands back (an illegal instruction it does not emulate, an access fault). Saves
 * every GPR in a struct trap_frame on the interrupted stack, calls trap_dispatch(frame), then
 * restores from the frame, including sepc and sstatus, so a handler may redirect the return and
 * nested traps (a system call inside a handler) are safe.
 *
 * The only code that runs in U-mode is a system call's ecall (rt/syscall.h), so every trap returns
 * to S-mode: sstatus.SPP is set on the way out.
 */
#include <rt/csr.h>
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
    csrr    t0, sepc
    sd      t0, TF_EPC(sp)
    csrr    t0, scause
    sd      t0, TF_CAUSE(sp)
    csrr    t0, stval
    sd      t0, TF_TVAL(sp)
    csrr    t0, sstatus
    sd      t0, TF_STATUS(sp)

    mv      a0, sp
    call    trap_dispatch

    ld      t0, TF_EPC(sp)
    csrw    sepc, t0
    ld      t0, TF_STATUS(sp)
    li      t1, SSTATUS_SPP
    or      t0, t0, t1
    csrw    sstatus, t0
    .irp    n, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ld      x\n, TF_REG(\n)(sp)
    .endr
    .irp    n, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    ld      x\n, TF_REG(\n)(sp)
    .endr
    ld      sp, TF_REG(2)(sp)
    sret
