/*
 * A stand-in SBI firmware for tests: M-mode, hart 0 only, and almost no SBI. It implements BASE
 * probe_extension (for BASE and the legacy console), the legacy console_putchar on the 16550 UART
 * and, with STUB_SRST, SRST shutdown (reason none: FINISHER_PASS; else code STUB_SRST_FAIL_CODE,
 * so a test sees which way a run ended). Every other call answers SBI_ERR_NOT_SUPPORTED, as
 * firmware without the extension would. With STUB_DENY_FINISHER, PMP keeps the test finisher
 * from S-mode. Then it enters the payload at KERNEL_BASE in S-mode, a0 = 0, a1 = the FDT.
 *
 * It delegates to S-mode what the payload handles itself: ecall from U (its system calls),
 * illegal instructions, breakpoints, access faults, and the supervisor interrupts.
 */
#include <contract.h>

#ifndef STUB_SRST
#define STUB_SRST 0
#endif
#ifndef STUB_DENY_FINISHER
#define STUB_DENY_FINISHER 0
#endif
#define STUB_SRST_FAIL_CODE 1
#define STUB_UNEXPECTED_TRAP 60 /* finisher code when a trap reaches the stub unasked */

#define SBI_EXT_LEGACY_PUTCHAR 0x01
#define SBI_EXT_BASE 0x10
#define SBI_EXT_SRST 0x53525354
#define SBI_ERR_NOT_SUPPORTED -2

#define MSTATUS_MPP_S (1 << 11)
#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_X 0x04
#define PMP_NAPOT 0x18

    .section .text.entry, "ax", @progbits
    .globl _start
_start:
    bnez    a0, park
    la      t0, trap
    csrw    mtvec, t0
#if STUB_DENY_FINISHER
    /* Entry 0: the finisher's 4 KiB, no access below M; entry 1: everything else, RWX. */
    li      t0, (FINISHER_BASE | (FINISHER_SIZE / 2 - 1)) >> 2
    csrw    pmpaddr0, t0
    li      t0, -1
    csrw    pmpaddr1, t0
    li      t0, ((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8) | PMP_NAPOT
#else
    li      t0, -1
    csrw    pmpaddr0, t0
    li      t0, PMP_NAPOT | PMP_R | PMP_W | PMP_X
#endif
    csrw    pmpcfg0, t0
    /* misaligned fetch, illegal instruction, breakpoint, access faults, ecall from U */
    li      t0, (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 7) | (1 << 8)
    csrw    medeleg, t0
    li      t0, (1 << 1) | (1 << 5) | (1 << 9) /* SSI, STI, SEI */
    csrw    mideleg, t0
    li      t0, 7
    csrw    mcounteren, t0
    li      t0, MSTATUS_MPP_S
    csrs    mstatus, t0
    li      t0, KERNEL_BASE
    csrw    mepc, t0
    mret

park:
    csrw    mie, zero
1:  wfi
    j       1b

/* Only ecalls from S-mode should get here; t0 and t1 are the payload's, so they are saved. */
    .balign 4
trap:
    csrw    mscratch, t0
    la      t0, saved_t1
    sd      t1, 0(t0)
    csrr    t0, mcause
    li      t1, 9
    bne     t0, t1, unexpected

    li      t0, SBI_EXT_LEGACY_PUTCHAR
    beq     a7, t0, putchar
    li      t0, SBI_EXT_BASE
    beq     a7, t0, base
#if STUB_SRST
    li      t0, SBI_EXT_SRST
    beq     a7, t0, srst
#endif
    li      a0, SBI_ERR_NOT_SUPPORTED
    j       done

putchar:
    li      t0, UART_BASE
1:  lbu     t1, UART_LSR(t0)
    andi    t1, t1, UART_LSR_THRE
    beqz    t1, 1b
    sb      a0, UART_THR(t0)
    li      a0, 0
    j       done

base:
    li      t0, 3 /* probe_extension */
    bne     a6, t0, not_supported
    li      t0, SBI_EXT_BASE
    beq     a0, t0, 1f
    li      t0, SBI_EXT_LEGACY_PUTCHAR
    beq     a0, t0, 1f
    li      a1, 0
    li      a0, 0
    j       done
1:  li      a1, 1
    li      a0, 0
    j       done

#if STUB_SRST
srst:
    li      t0, FINISHER_BASE
    li      t1, FINISHER_PASS
    beqz    a1, 1f
    li      t1, (STUB_SRST_FAIL_CODE << 16) | FINISHER_FAIL
1:  sw      t1, 0(t0)
    j       park
#endif

not_supported:
    li      a0, SBI_ERR_NOT_SUPPORTED
done:
    csrr    t0, mepc
    addi    t0, t0, 4
    csrw    mepc, t0
    la      t0, saved_t1
    ld      t1, 0(t0)
    csrr    t0, mscratch
    mret

unexpected:
    li      t0, FINISHER_BASE
    li      t1, (STUB_UNEXPECTED_TRAP << 16) | FINISHER_FAIL
    sw      t1, 0(t0)
    j       park

    .data
    .balign 8
saved_t1:
    .dword  0
