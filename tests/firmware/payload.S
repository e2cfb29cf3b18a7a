/*
 * An S-mode payload for OpenSBI (fw_jump's 0x80200000, or wherever fw_dynamic is told): the boot
 * hart finds out which mode it runs in (reading mstatus must trap below M mode, and OpenSBI
 * hands that trap back through stvec), says so on the console through the SBI legacy
 * console_putchar, and shuts the machine down through SRST (the legacy shutdown if SRST fails).
 */
#define SBI_LEGACY_PUTCHAR 0x01
#define SBI_LEGACY_SHUTDOWN 0x08
#define SBI_EXT_SRST 0x53525354
#define CAUSE_ILLEGAL_INSTRUCTION 2

    .section .text.entry, "ax"
    .globl _start
_start:
    mv      s0, a0
    la      t0, on_trap
    csrw    stvec, t0
    li      s1, 0
    csrr    t0, mstatus
    li      t0, CAUSE_ILLEGAL_INSTRUCTION
    la      a0, wrong_mode
    bne     s1, t0, 1f
    la      a0, s_mode
1:  call    puts
    addi    a0, s0, '0'
    li      a7, SBI_LEGACY_PUTCHAR
    ecall
    li      a0, '\n'
    ecall
    li      a7, SBI_EXT_SRST
    li      a6, 0
    li      a0, 0
    li      a1, 0
    ecall
    li      a7, SBI_LEGACY_SHUTDOWN
    ecall
2:  wfi
    j       2b

/* The only trap expected: mstatus read below M mode. s1 = its cause; skip the csrr. */
    .balign 4
on_trap:
    csrr    s1, scause
    csrr    t0, sepc
    addi    t0, t0, 4
    csrw    sepc, t0
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

s_mode:
    .asciz  "sbi-payload: running in S-mode on hart "
wrong_mode:
    .asciz  "sbi-payload: NOT in S-mode (reading mstatus did not trap to stvec) on hart "
