/*
 * An S-mode payload for OpenSBI (fw_jump's 0x80200000, or wherever fw_dynamic is told). The boot
 * hart
 *   1. finds out which mode it runs in: reading mstatus must trap below M mode, and OpenSBI hands
 *      that trap back through stvec;
 *   2. takes the UART's THR-empty interrupt through its own S context of the PLIC (a supervisor
 *      external interrupt OpenSBI delegates), claims and completes it;
 * says how both went on the console through the SBI legacy console_putchar, and shuts the machine
 * down through SRST (the legacy shutdown if SRST fails).
 */
#include "contract.h"

#define SBI_LEGACY_PUTCHAR 0x01
#define SBI_LEGACY_SHUTDOWN 0x08
#define SBI_EXT_SRST 0x53525354
#define CAUSE_S_EXTERNAL ((1 << 63) | IRQ_S_EXT)
#define SIE_SEIE (1 << IRQ_S_EXT)
#define SSTATUS_SIE 0x2
#define UART_IER 1
#define IER_THRI 0x02

    .section .text.entry, "ax"
    .globl _start
_start:
    mv      s0, a0              /* hart id */
    la      t0, on_trap
    csrw    stvec, t0
    /* 1. the mode: s1 = the cause of the trap the csrr takes (0: none) */
    li      s1, 0
    csrr    t0, mstatus
    li      t0, CAUSE_ILLEGAL_INSTRUCTION
    la      a0, wrong_mode
    bne     s1, t0, 1f
    la      a0, s_mode
1:  call    puts
    call    put_hart

    /* 2. the UART interrupt: source priority 1, enabled in context 2 * hart + 1, threshold 0 */
    li      t0, PLIC_BASE + 4 * UART_IRQ
    li      t1, 1
    sw      t1, 0(t0)
    slli    t2, s0, 1
    addi    t2, t2, 1
    slli    t3, t2, 7
    li      t0, PLIC_BASE + 0x2000
    add     t0, t0, t3
    li      t1, 1 << UART_IRQ
    sw      t1, 0(t0)
    slli    t3, t2, 12
    li      s3, PLIC_BASE + 0x200000
    add     s3, s3, t3          /* s3: this context's threshold; claim/complete at +4 */
    sw      zero, 0(s3)
    li      s1, 0               /* the handler sets s1 to scause and s2 to the claimed source */
    li      s2, 0
    li      t0, SIE_SEIE
    csrs    sie, t0
    li      t0, UART_BASE
    li      t1, IER_THRI
    sb      t1, UART_IER(t0)
    /* Wait with sstatus.SIE clear, so the interrupt cannot slip in between the test and the wfi
     * (wfi wakes on it all the same); open the window only after the wfi. */
2:  bnez    s1, 3f
    wfi
    csrsi   sstatus, SSTATUS_SIE
    csrci   sstatus, SSTATUS_SIE
    j       2b
3:  li      t0, CAUSE_S_EXTERNAL
    la      a0, irq_wrong
    bne     s1, t0, 4f
    li      t0, UART_IRQ
    bne     s2, t0, 4f
    la      a0, irq_ok
4:  call    puts
    call    put_hart

    li      a7, SBI_EXT_SRST
    li      a6, 0
    li      a0, 0
    li      a1, 0
    ecall
    li      a7, SBI_LEGACY_SHUTDOWN
    ecall
5:  wfi
    j       5b

/* Traps: the mstatus read (skip it) or the external interrupt (claim, quieten, complete). */
    .balign 4
on_trap:
    csrr    s1, scause
    bltz    s1, 1f
    csrr    t0, sepc
    addi    t0, t0, 4
    csrw    sepc, t0
    sret
1:  lw      s2, 4(s3)           /* claim */
    li      t0, UART_BASE
    sb      zero, UART_IER(t0)  /* the UART lowers its line */
    sw      s2, 4(s3)           /* complete */
    li      t0, SIE_SEIE
    csrc    sie, t0
    sret

/* Print the string at a0 (SBI calls keep every register but a0 and a1). */
puts:
    mv      t1, a0
    li      a7, SBI_LEGACY_PUTCHAR
1:  lbu     a0, 0(t1)
    beqz    a0, 2f
    ecall
    addi    t1, t1, 1
    j       1b
2:  ret

/* Print " on hart N\n" (N < 10). */
put_hart:
    mv      t2, ra
    la      a0, on_hart
    call    puts
    addi    a0, s0, '0'
    ecall
    li      a0, '\n'
    ecall
    mv      ra, t2
    ret

s_mode:
    .asciz  "sbi-payload: running in S-mode"
wrong_mode:
    .asciz  "sbi-payload: NOT in S-mode (reading mstatus did not trap to stvec)"
irq_ok:
    .asciz  "sbi-payload: UART interrupt taken in S-mode through the PLIC"
irq_wrong:
    .asciz  "sbi-payload: UART interrupt WRONG (not a supervisor external interrupt of source 10)"
on_hart:
    .asciz  " on hart "
