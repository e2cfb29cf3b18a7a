/*
 * Trap-path checks on hart 0: (a) system calls and their errors, (b) a registered
 * illegal-instruction handler skipping a 2-byte and a 4-byte instruction, (c) a software
 * interrupt taken through the trap vector (mtvec, or stvec under SBI firmware). Each failed check
 * returns its own code.
 *
 * The TRAPS_* macros replace all of that with one deliberate failure, for testing how the
 * runtime and the emulator report it.
 */
#include <rt/runtime.h>

#ifndef TRAPS_UNHANDLED
#define TRAPS_UNHANDLED 0 /* illegal instruction, no handler: runtime panic */
#endif
#ifndef TRAPS_NO_MTVEC
#define TRAPS_NO_MTVEC 0 /* mtvec (stvec) = 0, then an illegal instruction: no handler at all */
#endif
#ifndef TRAPS_BAD_ACCESS
#define TRAPS_BAD_ACCESS 0 /* load from an unmapped address */
#endif
#ifndef TRAPS_EXIT_CODE
#define TRAPS_EXIT_CODE -1 /* >= 0: exit(TRAPS_EXIT_CODE) at once */
#endif
#ifndef TRAPS_EBREAK
#define TRAPS_EBREAK 0 /* ebreak: a breakpoint exception the runtime does not handle */
#endif

#define UNMAPPED_ADDRESS 0x40000000UL

enum failure {
    FAIL_WRITE_LENGTH = 1,
    FAIL_WRITE_EBADF,
    FAIL_ENOSYS,
    FAIL_ILL16_COUNT,
    FAIL_ILL16_MEPC,
    FAIL_ILL16_MCAUSE,
    FAIL_ILL32_COUNT,
    FAIL_ILL32_MEPC,
    FAIL_ILL32_MCAUSE,
    FAIL_SOFT_NOT_RUN,
    FAIL_SOFT_MCAUSE,
    FAIL_BAD_ACCESS_NO_TRAP,
};

/* Labels placed on the illegal instructions by the asm below. */
extern const char traps_ill16[];
extern const char traps_ill32[];

/* Written by the handlers (in trap context), read by app_main. */
static volatile unsigned long ill_epc, ill_cause, ill_tval;
static volatile unsigned ill_count;
static volatile unsigned long soft_cause;
static volatile unsigned soft_count;

static int on_illegal(struct trap_frame *frame) {
    ill_epc = frame->epc;
    ill_cause = frame->cause;
    ill_tval = frame->tval;
    ill_count++;
    /* The low two bits of the first halfword say 32-bit (11) or compressed (anything else). */
    unsigned short first = *(const volatile unsigned short *)frame->epc;
    frame->epc += (first & 3) == 3 ? 4 : 2;
    return 1;
}

static void on_soft(struct trap_frame *frame) {
    soft_cause = frame->cause;
    soft_count++;
}

static void illegal_4byte(void) {
    /* csrrw x0, cycle, x0: a write to a read-only CSR. */
    __asm__ volatile(".globl traps_ill32\ntraps_ill32:\n.4byte 0xc0001073\n" ::: "memory");
}

static int check_syscalls(void) {
    static const char line[] = "traps: write returns its length\n";
    if (write(1, line, sizeof line - 1) != (long)(sizeof line - 1))
        return FAIL_WRITE_LENGTH;
    if (write(7, line, sizeof line - 1) != -ERRNO_EBADF)
        return FAIL_WRITE_EBADF;
    if (syscall6(999, 0, 0, 0, 0, 0, 0) != -ERRNO_ENOSYS)
        return FAIL_ENOSYS;
    return 0;
}

static int check_illegal(void) {
    trap_set_handler(CAUSE_ILLEGAL_INSTRUCTION, on_illegal);

    __asm__ volatile(".globl traps_ill16\ntraps_ill16:\n.2byte 0\n" ::: "memory");
    if (ill_count != 1)
        return FAIL_ILL16_COUNT;
    if (ill_epc != (unsigned long)traps_ill16)
        return FAIL_ILL16_MEPC;
    if (ill_cause != CAUSE_ILLEGAL_INSTRUCTION)
        return FAIL_ILL16_MCAUSE;

    illegal_4byte();
    if (ill_count != 2)
        return FAIL_ILL32_COUNT;
    if (ill_epc != (unsigned long)traps_ill32)
        return FAIL_ILL32_MEPC;
    if (ill_cause != CAUSE_ILLEGAL_INSTRUCTION)
        return FAIL_ILL32_MCAUSE;

    trap_set_handler(CAUSE_ILLEGAL_INSTRUCTION, 0);
    printf("traps: illegal instructions skipped (mtval 0x%lx)\n", ill_tval);
    return 0;
}

static int check_soft_interrupt(void) {
    trap_set_irq_handler(IRQ_SOFT, on_soft);
    unsigned long old_ie = irq_unmask(IE_SOFT);
    irq_enable();

    ipi_send(hart_id());
    /* With interrupts on, ipi_wait lets the trap path take the interrupt and consumes its flag. */
    ipi_wait();

    irq_disable();
    if (!(old_ie & IE_SOFT))
        irq_mask(IE_SOFT);
    trap_set_irq_handler(IRQ_SOFT, 0);

    if (soft_count != 1)
        return FAIL_SOFT_NOT_RUN;
    if (soft_cause != (CAUSE_INTERRUPT | IRQ_SOFT))
        return FAIL_SOFT_MCAUSE;
    return 0;
}

/* Runs the selected failure mode; returns only if that mode did not end the run. */
static int failure_mode(void) {
    if (TRAPS_EXIT_CODE >= 0)
        exit(TRAPS_EXIT_CODE);
    if (TRAPS_UNHANDLED)
        illegal_4byte();
    if (TRAPS_NO_MTVEC) {
        csr_write(CSR_TVEC, 0);
        illegal_4byte();
    }
    if (TRAPS_EBREAK)
        __asm__ volatile("ebreak" ::: "memory");
    if (TRAPS_BAD_ACCESS) {
        unsigned value = mmio_read32(UNMAPPED_ADDRESS);
        printf("traps: load from 0x%lx did not trap (read 0x%x)\n", UNMAPPED_ADDRESS, value);
        return FAIL_BAD_ACCESS_NO_TRAP;
    }
    printf("traps: failure mode did not end the run\n");
    return GUEST_EXIT_MAX;
}

int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    if (hart != 0)
        return 0;

    if (TRAPS_UNHANDLED || TRAPS_NO_MTVEC || TRAPS_BAD_ACCESS || TRAPS_EXIT_CODE >= 0 ||
        TRAPS_EBREAK)
        return failure_mode();

    int rc = check_syscalls();
    if (!rc)
        rc = check_illegal();
    if (!rc)
        rc = check_soft_interrupt();
    if (rc)
        printf("traps: FAIL (check %d)\n", rc);
    else
        printf("traps: PASS\n");
    return rc;
}
