/*
 * A minimal M-mode kernel: hart 0 writes "kernel\n" to the UART and exits with code 7 through
 * the test finisher; the other harts spin. It checks nothing: the test reads what it did.
 */
#include "contract.h"

    .section .text.entry, "ax"
    .globl _start
_start:
    bnez    a0, 2f
    li      t0, UART_BASE
    la      t1, message
1:  lbu     t2, 0(t1)
    beqz    t2, 3f
    sb      t2, UART_THR(t0)
    addi    t1, t1, 1
    j       1b
3:  li      t0, FINISHER_BASE
    li      t1, (7 << 16) | FINISHER_FAIL
    sw      t1, 0(t0)
2:  j       2b

message:
    .asciz  "kernel\n"
