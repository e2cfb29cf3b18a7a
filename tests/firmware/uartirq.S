/*
 * The UART's THR-empty interrupt through the PLIC to a sleeping hart, in M mode (--bios none):
 * hart 1 enables PLIC source UART_IRQ for its M context, sleeps in wfi, and on the machine
 * external interrupt claims the source, switches the UART's interrupt off and completes it;
 * hart 0 waits until hart 1 is (very likely) asleep, enables the interrupt in the UART's IER,
 * waits for hart 1's handler, then prints "uart irq ok" and exits 0. Any other cause or claim
 * exits with a code naming what went wrong: 1 a trap other than the machine external interrupt,
 * 2 a claim other than UART_IRQ, 3 something still to claim after the UART was quietened.
 */
#include "contract.h"

#define PLIC_ENABLE(context) (PLIC_BASE + 0x2000 + 0x80 * (context))
#define PLIC_THRESHOLD(context) (PLIC_BASE + 0x200000 + 0x1000 * (context))
#define PLIC_CLAIM(context) (PLIC_THRESHOLD(context) + 4)
#define HART1_M_CONTEXT 2
#define UART_IER 1
#define IER_THRI 0x02
#define MIE_MEIE (1 << IRQ_M_EXT)
#define MSTATUS_MIE 0x8

    .section .text.entry, "ax"
    .globl _start
_start:
    la      t0, on_trap
    csrw    mtvec, t0
    beqz    a0, hart0
    li      t0, 1
    bne     a0, t0, park
    /* hart 1: source priority 1, enabled for its M context, threshold 0, MEIE */
    li      t0, PLIC_BASE + 4 * UART_IRQ
    li      t1, 1
    sw      t1, 0(t0)
    li      t0, PLIC_ENABLE(HART1_M_CONTEXT)
    li      t1, 1 << UART_IRQ
    sw      t1, 0(t0)
    li      t0, PLIC_THRESHOLD(HART1_M_CONTEXT)
    sw      zero, 0(t0)
    li      t0, MIE_MEIE
    csrs    mie, t0
    csrsi   mstatus, MSTATUS_MIE
    la      t0, ready
    li      t1, 1
    sw      t1, 0(t0)
1:  wfi
    la      t0, handled
    lw      t1, 0(t0)
    beqz    t1, 1b
park:
    wfi
    j       park

hart0:
    la      t0, ready
1:  lw      t1, 0(t0)
    beqz    t1, 1b
    li      t2, 3000            /* long enough for hart 1 to be asleep on its wfi */
2:  addi    t2, t2, -1
    bnez    t2, 2b
    li      t0, UART_BASE
    li      t1, IER_THRI
    sb      t1, UART_IER(t0)
    la      t0, handled
3:  lw      t1, 0(t0)
    beqz    t1, 3b
    li      t0, UART_BASE
    la      t1, message
4:  lbu     t2, 0(t1)
    beqz    t2, 5f
    sb      t2, UART_THR(t0)
    addi    t1, t1, 1
    j       4b
5:  li      a0, 0
    j       finish

    .balign 4
on_trap:
    csrr    t0, mcause
    li      t1, (1 << 63) | IRQ_M_EXT
    li      a0, 1
    bne     t0, t1, finish
    li      t0, PLIC_CLAIM(HART1_M_CONTEXT)
    lw      t1, 0(t0)
    li      a0, 2
    li      t2, UART_IRQ
    bne     t1, t2, finish
    li      t2, UART_BASE
    sb      zero, UART_IER(t2)  /* the UART's line drops */
    sw      t1, 0(t0)           /* complete */
    lw      t1, 0(t0)           /* nothing left to claim */
    li      a0, 3
    bnez    t1, finish
    la      t0, handled
    li      t1, 1
    sw      t1, 0(t0)
    mret

/* exit through the test finisher: a0 = 0 passes, else fails with code a0 */
finish:
    li      t0, FINISHER_BASE
    li      t1, FINISHER_PASS
    beqz    a0, 1f
    slli    t1, a0, 16
    li      t2, FINISHER_FAIL
    or      t1, t1, t2
1:  sw      t1, 0(t0)
2:  wfi
    j       2b

message:
    .asciz  "uart irq ok\n"

    .section .data
    .balign 4
ready:
    .word   0
handled:
    .word   0
