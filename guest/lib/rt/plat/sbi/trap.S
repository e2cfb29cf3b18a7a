/*
 * Trap entry under SBI firmware (stvec, direct mode): the traps the firmware delegates to S-mode
 * and those it hands back (an illegal instruction it does not emulate, an access fault).
 * ../../entry.h's frame save and restore with the S-mode trap CSRs, returning with sret; sepc and
 * sstatus are restored from the frame, so a handler may redirect the return and nested traps (a
 * system call inside a handler) are safe.
 *
 * The only code that runs in U-mode is a system call's ecall (rt/syscall.h), so every trap returns
 * to S-mode: sstatus.SPP is set on the way out.
 */
#include "../../entry.h"

    .text
    .balign 4
    .globl trap_entry
trap_entry:
    trap_save_and_dispatch sepc, scause, stval, sstatus

    ld      t0, TF_EPC(sp)
    csrw    sepc, t0
    ld      t0, TF_STATUS(sp)
    li      t1, SSTATUS_SPP
    or      t0, t0, t1
    csrw    sstatus, t0
    trap_restore_gprs
    sret
