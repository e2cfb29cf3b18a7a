/*
 * Entry, trap vectors and mode switching. Every instruction here is 4 bytes (norvc): vector
 * table slots must be, and the probes' faulting instruction is skipped by 4.
 */
#include "priv.h"

    .option norvc

/* ---- Entry: a0 = hart id, a1 = FDT, M-mode, as QEMU virt -bios none starts every hart. ---- */

    .section .text.entry, "ax", @progbits
    .globl _start
_start:
    csrw    mie, zero
    csrci   mstatus, MSTATUS_MIE
    li      t0, MSTATUS_FS
    csrc    mstatus, t0
    li      t0, 1 << 13             /* FS = Initial: compiled code may touch FP registers */
    csrs    mstatus, t0
    la      t0, m_trap_direct       /* a trap during boot is reported, not lost */
    csrw    mtvec, t0

    li      t0, PRIV_MAX_HARTS
    bgeu    a0, t0, priv_park

    la      sp, priv_stacks
    addi    t0, a0, 1
    li      t1, STACK_SIZE
    mul     t0, t0, t1
    add     sp, sp, t0

    bnez    a0, 2f
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 3f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
3:  fence   rw, rw
    li      t0, 1
    la      t1, priv_bss_ready
    sw      t0, 0(t1)
    j       4f
2:  la      t1, priv_bss_ready      /* secondaries: wait until hart 0 cleared .bss */
    lw      t0, 0(t1)
    beqz    t0, 2b
    fence   rw, rw
4:  call    priv_boot               /* (hart id, fdt); does not return */

    .globl priv_park
priv_park:
    csrw    mie, zero
    csrci   mstatus, MSTATUS_MIE
1:  wfi
    j       1b

    .section .data
    .balign 4
priv_bss_ready:
    .word   0

/* ---- Trap entry. ------------------------------------------------------------------------ */

/* A slot: swap to the trap stack, save t0, say which slot, go to the common part. */
.macro SLOT scratch, common, index
    csrrw   sp, \scratch, sp
    addi    sp, sp, -FRAME_SIZE
    sd      t0, 5 * 8(sp)
    li      t0, \index
    j       \common
.endm

/* Saves x1..x31 in a struct frame, calls trap_dispatch(frame, level), restores, returns. */
.macro COMMON scratch, level, ret
    sd      t0, FRAME_VECTOR(sp)
    sd      x1, 1 * 8(sp)
    .irp    n, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18
    sd      x\n, \n * 8(sp)
    .endr
    .irp    n, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    sd      x\n, \n * 8(sp)
    .endr
    csrr    t0, \scratch            /* the interrupted sp */
    sd      t0, 2 * 8(sp)
    sd      zero, 0(sp)
    mv      a0, sp
    li      a1, \level
    call    trap_dispatch
    ld      x1, 1 * 8(sp)
    .irp    n, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18
    ld      x\n, \n * 8(sp)
    .endr
    .irp    n, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    ld      x\n, \n * 8(sp)
    .endr
    addi    sp, sp, FRAME_SIZE
    csrrw   sp, \scratch, sp
    \ret
.endm

    .text
    .balign 4
    .globl m_trap_direct
m_trap_direct:
    SLOT    mscratch, m_common, -1
m_common:
    COMMON  mscratch, PRV_M, mret

    .balign 4
    .globl s_trap_direct
s_trap_direct:
    SLOT    sscratch, s_common, -1
s_common:
    COMMON  sscratch, PRV_S, sret

/* Vectored mode: slot n at base + 4n. Exceptions use slot 0, interrupt i slot i. */
    .balign 256
    .globl m_trap_vectors
m_trap_vectors:
    .irp    n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    j       m_slot_\n
    .endr
    .irp    n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
m_slot_\n:
    SLOT    mscratch, m_common, \n
    .endr

    .balign 256
    .globl s_trap_vectors
s_trap_vectors:
    .irp    n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    j       s_slot_\n
    .endr
    .irp    n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
s_slot_\n:
    SLOT    sscratch, s_common, \n
    .endr

/* ---- Mode switching. -------------------------------------------------------------------- */

/* long priv_enter_lower(int mode, long (*fn)(long), long arg, long offset): mret into `mode` at
 * lower_trampoline + offset with sp + offset; fn + offset runs there and its value comes back
 * through an ecall (a7 = PRIV_RETURN_MAGIC) that trap_dispatch turns into a return to
 * priv_lower_return, which returns it from here. */
    .globl priv_enter_lower
priv_enter_lower:
    sd      ra, HART_JMP + 0 * 8(tp)
    sd      sp, HART_JMP + 1 * 8(tp)
    .irp    n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    sd      s\n, HART_JMP + (2 + \n) * 8(tp)
    .endr
    li      t0, MSTATUS_MPP | MSTATUS_MPIE
    csrc    mstatus, t0
    slli    t0, a0, MSTATUS_MPP_SHIFT
    csrs    mstatus, t0
    la      t0, lower_trampoline
    add     t0, t0, a3
    csrw    mepc, t0
    add     a1, a1, a3
    add     sp, sp, a3
    mv      a0, a2
    mret
lower_trampoline:
    jalr    a1
    li      a7, PRIV_RETURN_MAGIC
    .globl priv_return_ecall
priv_return_ecall:
    ecall
1:  j       1b

    .globl priv_lower_return
priv_lower_return:
    ld      ra, HART_JMP + 0 * 8(tp)
    ld      sp, HART_JMP + 1 * 8(tp)
    .irp    n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    ld      s\n, HART_JMP + (2 + \n) * 8(tp)
    .endr
    ld      t0, HART_MTRAP_TOP(tp)
    csrw    mscratch, t0
    ld      t0, HART_STRAP_TOP(tp)
    csrw    sscratch, t0
    ret

/* From the S handler: pass a U function's return value on to M (a delegated return ecall). */
    .globl priv_s_forward
priv_s_forward:
    li      a7, PRIV_RETURN_MAGIC
    .globl priv_s_forward_ecall
priv_s_forward_ecall:
    ecall
1:  j       1b

/* ---- Probes: one 4-byte instruction that may trap. -------------------------------------- */

    .globl probe_load
probe_load:
    mv      t0, a0
    li      a0, TRAP_MARKER
    ld      a0, 0(t0)
    ret

    .globl probe_load32
probe_load32:
    mv      t0, a0
    li      a0, TRAP_MARKER
    lwu     a0, 0(t0)
    ret

    .globl probe_store
probe_store:
    sd      a1, 0(a0)
    ret

    .globl probe_fetch
probe_fetch:
    addi    sp, sp, -16
    sd      ra, 8(sp)
    jalr    a0
    ld      ra, 8(sp)
    addi    sp, sp, 16
    ret

    .globl probe_ecall
probe_ecall:
    la      a0, 1f
    li      a7, 0
1:  ecall
    ret

/* ---- Stacks: never cleared, never loaded. ------------------------------------------------- */

    .section .stacks, "aw", @nobits
    .balign 4096
    .globl priv_stacks
priv_stacks:
    .space  PRIV_MAX_HARTS * STACK_SIZE
    .globl priv_mtrap_stacks
priv_mtrap_stacks:
    .space  PRIV_MAX_HARTS * TRAP_STACK_SIZE
    .globl priv_strap_stacks
priv_strap_stacks:
    .space  PRIV_MAX_HARTS * TRAP_STACK_SIZE
