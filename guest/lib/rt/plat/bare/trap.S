/*
 * Trap entry (mtvec, direct mode): ../../entry.h's frame save and restore with the M-mode trap
 * CSRs, returning with mret. mepc and mstatus are restored from the frame, so a handler may
 * redirect the return and nested traps (an ecall inside a handler) are safe.
 */
#include "../../entry.h"

    .text
    .balign 4
    .globl trap_entry
trap_entry:
    trap_save_and_dispatch mepc, mcause, mtval, mstatus

    ld      t0, TF_EPC(sp)
    csrw    mepc, t0
    ld      t0, TF_STATUS(sp)
    csrw    mstatus, t0
    trap_restore_gprs
    mret
