/*
 * Sleeping and waking: (1) hart 0 wakes each other hart in turn with an IPI and waits, also
 * asleep, for the IPI back; (2) every hart sleeps on its own timer and checks mtime moved on;
 * (3) an IPI storm: the harts in a ring, each sending IPIs to the next while it polls for its
 * own with ipi_take, interrupts on, and no IPI may be lost; (4) hart 0 takes one timer interrupt
 * through the trap path.
 */
#include <rt/runtime.h>

#ifndef WFI_DEADLOCK
#define WFI_DEADLOCK 0
#endif
#ifndef WFI_TIMER_TICKS
#define WFI_TIMER_TICKS 1000
#endif
#ifndef WFI_STORM_ROUNDS
#define WFI_STORM_ROUNDS 64 /* IPIs each hart sends in the storm */
#endif
/* Failed ipi_take calls in a row, after an IPI was sent and not yet taken, before the storm calls
 * it lost. On this machine at most one can fail (the interrupt taken between the flag's exchange
 * and the acknowledgement leaves the flag for the next call); on QEMU the interrupt may take a few
 * more instructions to arrive. A lost IPI fails them all: this bound ends the run early rather
 * than let the sender wait for its acknowledgement until the instruction budget runs out. */
#ifndef WFI_STORM_PATIENCE
#define WFI_STORM_PATIENCE 1000
#endif

enum failure {
    FAIL_NO_ACK = 1,
    FAIL_TIMER_SHORT,
    FAIL_TIMER_IRQ_NOT_RUN,
    FAIL_TIMER_IRQ_MCAUSE,
    FAIL_IPI_LOST,
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

/* The storm's counts of the IPIs a hart sends its ring successor: announced before each
 * ipi_send, sent once ipi_send returned (so the IPI is pending at the receiver from then on), and
 * taken: what `announced` was when the receiver last took an IPI (written by the receiver). */
static struct {
    unsigned announced, sent, taken;
} storm[MAX_HARTS];
static int storm_failed;

static unsigned load(const unsigned *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static void store(unsigned *p, unsigned v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Each hart sends WFI_STORM_ROUNDS IPIs to the next hart, one at a time (the next when the last
 * was taken), and takes those of the previous one with ipi_take while interrupts are on, so most
 * arrive through the trap path (trap.c sets the pending flag that ipi_take exchanges for 0). An
 * IPI sent after the receiver last took one must be taken by the receiver's next calls: IPIs
 * coalesce, but one is never consumed without ipi_take saying so. */
static int ipi_storm(unsigned hart, unsigned nharts) {
    unsigned next = (hart + 1) % nharts, prev = (hart + nharts - 1) % nharts;
    unsigned failed_takes = 0;
    int rc = 0;

    unsigned long old_ie = irq_unmask(IE_SOFT);
    irq_enable();
    while ((load(&storm[hart].taken) < WFI_STORM_ROUNDS ||
            load(&storm[prev].taken) < WFI_STORM_ROUNDS) &&
           !__atomic_load_n(&storm_failed, __ATOMIC_RELAXED)) {
        unsigned announced = storm[hart].announced;
        if (announced < WFI_STORM_ROUNDS && load(&storm[hart].taken) == announced) {
            store(&storm[hart].announced, announced + 1);
            ipi_send(next);
            store(&storm[hart].sent, announced + 1);
        }
        unsigned sent = load(&storm[prev].sent);
        if (ipi_take()) {
            store(&storm[prev].taken, load(&storm[prev].announced));
            failed_takes = 0;
        } else if (sent > storm[prev].taken && ++failed_takes == WFI_STORM_PATIENCE) {
            printf("hart %u: IPI %u from hart %u lost: sent, never taken\n", hart, sent, prev);
            __atomic_store_n(&storm_failed, 1, __ATOMIC_RELAXED);
            rc = FAIL_IPI_LOST;
        }
    }
    irq_disable();
    if (!(old_ie & IE_SOFT))
        irq_mask(IE_SOFT);
    return rc;
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
    barrier_all();
    int storm_rc = ipi_storm(hart, nharts);
    if (!rc)
        rc = storm_rc;
    barrier_all(); /* keeps hart 0's last lines last */
    if (hart != 0 || rc)
        return rc;
    if (__atomic_load_n(&storm_failed, __ATOMIC_RELAXED))
        return FAIL_IPI_LOST; /* another hart's: its line says which IPI */
    printf("hart 0: IPI storm ok (%u IPIs around the ring of %u)\n", WFI_STORM_ROUNDS * nharts,
           nharts);
    return timer_interrupt();
}
