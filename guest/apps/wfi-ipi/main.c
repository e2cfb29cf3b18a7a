/*
 * Sleeping and waking: (1) hart 0 wakes each other hart in turn with an IPI and waits, also
 * asleep, for the IPI back; (2) every hart sleeps on its own timer and checks mtime moved on;
 * (3) hart 0 takes one timer interrupt through the trap path.
 */
#include <rt/runtime.h>

#ifndef WFI_DEADLOCK
#define WFI_DEADLOCK 0
#endif
#ifndef WFI_TIMER_TICKS
#define WFI_TIMER_TICKS 1000
#endif

enum failure {
    FAIL_NO_ACK = 1,
    FAIL_TIMER_SHORT,
    FAIL_TIMER_IRQ_NOT_RUN,
    FAIL_TIMER_IRQ_MCAUSE,
};

static volatile unsigned char acked[MAX_HARTS];
static volatile unsigned print_turn;
static volatile unsigned long timer_cause;
static volatile unsigned timer_irqs;

static int wake_in_turn(unsigned hart, unsigned nharts) {
    if (hart != 0) {
        ipi_wait();
        printf("hart %u: woken by IPI\n", hart);
        acked[hart] = 1;
        ipi_send(0);
        return 0;
    }
    for (unsigned h = 1; h < nharts; h++) {
        ipi_send(h);
        ipi_wait();
        if (!acked[h]) {
            printf("hart 0: IPI back without hart %u's acknowledgement\n", h);
            return FAIL_NO_ACK;
        }
    }
    return 0;
}

static int sleep_on_timer(unsigned hart) {
    uint64_t start = mtime_read();
    time_wait_ticks(WFI_TIMER_TICKS);
    uint64_t slept = mtime_read() - start;

    /* Print in hart order so the console output does not depend on scheduling. */
    while (print_turn != hart)
        ;
    int rc = 0;
    if (slept >= WFI_TIMER_TICKS) {
        printf("hart %u: timer ok\n", hart);
    } else {
        printf("hart %u: timer woke after %lu of %u ticks\n", hart, (unsigned long)slept,
               (unsigned)WFI_TIMER_TICKS);
        rc = FAIL_TIMER_SHORT;
    }
    print_turn = hart + 1;
    return rc;
}

static void on_timer(struct trap_frame *frame) {
    timer_cause = frame->cause;
    timer_irqs++;
}

static int timer_interrupt(void) {
    trap_set_irq_handler(IRQ_TIMER, on_timer);
    unsigned long old_ie = irq_unmask(IE_TIMER);
    mtimecmp_write(mtime_read() + WFI_TIMER_TICKS);
    /* Interrupts stay off while testing the flag: see rt/irq.h for why the window is needed. */
    while (!timer_irqs) {
        wfi();
        irq_window();
    }
    if (!(old_ie & IE_TIMER))
        irq_mask(IE_TIMER);
    trap_set_irq_handler(IRQ_TIMER, 0);

    if (timer_cause != (CAUSE_INTERRUPT | IRQ_TIMER)) {
        printf("hart 0: timer interrupt with mcause 0x%lx\n", timer_cause);
        return FAIL_TIMER_IRQ_MCAUSE;
    }
    printf("hart 0: timer interrupt ok\n");
    return 0;
}

int app_main(unsigned hart, unsigned nharts) {
#if WFI_DEADLOCK
    /* Every hart sleeps with no interrupt enabled: nothing can ever wake them (a deadlock the
     * emulator must report rather than spin on). */
    csr_write(CSR_IE, 0);
    for (;;)
        wfi();
#endif
    int rc = wake_in_turn(hart, nharts);
    barrier_all();
    int timer_rc = sleep_on_timer(hart);
    if (!rc)
        rc = timer_rc;
    barrier_all(); /* keeps hart 0's last line last */
    if (hart == 0 && !rc)
        rc = timer_interrupt();
    return rc;
}
