/*
 * Lock stress: each critical section updates a two-word pair non-atomically (a first, some work,
 * then b), so a second hart inside the same lock would see a != b. Hart 0 also checks the totals
 * after every round, while the others wait at a barrier.
 */
#include <rt/runtime.h>

#ifndef LOCKS_ROUNDS
#define LOCKS_ROUNDS 20
#endif
#ifndef LOCKS_ITERS
#define LOCKS_ITERS 50
#endif

/* Failure bits, also the order of the exit codes (lowest bit first). */
#define FAIL_SPIN_INVARIANT 1
#define FAIL_TICKET_INVARIANT 2
#define FAIL_SPIN_TOTAL 4
#define FAIL_TICKET_TOTAL 8

struct pair {
    volatile unsigned long a;
    volatile unsigned long b;
};

static spinlock_t spin = SPINLOCK_INIT;
static ticketlock_t ticket = TICKETLOCK_INIT;
static struct pair spin_pair;
static struct pair ticket_pair;
static unsigned total_failures; /* FAIL_*_TOTAL bits, written by hart 0 only */

/* The work between the two writes widens the window in which an intruder would be caught. */
static int critical_section(struct pair *p) {
    unsigned long before = p->a;
    int broken = p->b != before;
    p->a = before + 1;
    for (volatile int i = 0; i < 8; i++)
        ;
    broken |= p->a != before + 1;
    p->b = before + 1;
    return broken;
}

static unsigned check_totals(unsigned round, unsigned nharts) {
    unsigned long expected = (unsigned long)(round + 1) * LOCKS_ITERS * nharts;
    unsigned failures = 0;
    if (spin_pair.a != expected || spin_pair.b != expected) {
        printf("locks: round %u: spin total %lu/%lu, expected %lu\n", round, spin_pair.a,
               spin_pair.b, expected);
        failures |= FAIL_SPIN_TOTAL;
    }
    if (ticket_pair.a != expected || ticket_pair.b != expected) {
        printf("locks: round %u: ticket total %lu/%lu, expected %lu\n", round, ticket_pair.a,
               ticket_pair.b, expected);
        failures |= FAIL_TICKET_TOTAL;
    }
    return failures;
}

static int exit_code(unsigned failures) {
    for (int code = 1; code <= 4; code++)
        if (failures & (1u << (code - 1)))
            return code;
    return 0;
}

int app_main(unsigned hart, unsigned nharts) {
    unsigned failures = 0;

    for (unsigned round = 0; round < LOCKS_ROUNDS; round++) {
        for (unsigned i = 0; i < LOCKS_ITERS; i++) {
            /* Alternate the two ways of taking each lock so the trylocks are exercised too. */
            if (i & 1) {
                while (!spin_trylock(&spin))
                    ;
            } else {
                spin_lock(&spin);
            }
            if (critical_section(&spin_pair))
                failures |= FAIL_SPIN_INVARIANT;
            spin_unlock(&spin);

            if (i & 1) {
                while (!ticket_trylock(&ticket))
                    ;
            } else {
                ticket_lock(&ticket);
            }
            if (critical_section(&ticket_pair))
                failures |= FAIL_TICKET_INVARIANT;
            ticket_unlock(&ticket);
        }
        barrier_all();
        if (hart == 0)
            total_failures |= check_totals(round, nharts);
        /* Nobody starts the next round before hart 0 has read this one's totals. */
        barrier_all();
    }

    failures |= __atomic_load_n(&total_failures, __ATOMIC_RELAXED);
    if (failures)
        printf("hart %u: locks FAIL (spin invariant %d, ticket invariant %d, totals 0x%x)\n", hart,
               !!(failures & FAIL_SPIN_INVARIANT), !!(failures & FAIL_TICKET_INVARIANT),
               failures & (FAIL_SPIN_TOTAL | FAIL_TICKET_TOTAL));
    else
        printf("hart %u: locks ok\n", hart);
    return exit_code(failures);
}
