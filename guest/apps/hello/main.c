/* The default app: a greeting from every hart, then three shared counters that only come out
 * right if the spinlock, the ticket lock and amoadd each make increments atomic. */
#include <rt/runtime.h>

#ifndef HELLO_ITERS
#define HELLO_ITERS 1000
#endif

static spinlock_t spin = SPINLOCK_INIT;
static ticketlock_t ticket = TICKETLOCK_INIT;

/* volatile: the lock calls are opaque, and static counters could otherwise live in registers
 * across them (see rt/lock.h). */
static volatile unsigned long spin_count;
static volatile unsigned long ticket_count;
static unsigned long amoadd_count;

int app_main(unsigned hart, unsigned nharts) {
    printf("hart %u of %u: hello\n", hart, nharts);

    for (unsigned i = 0; i < HELLO_ITERS; i++) {
        spin_lock(&spin);
        spin_count++;
        spin_unlock(&spin);

        ticket_lock(&ticket);
        ticket_count++;
        ticket_unlock(&ticket);

        __atomic_fetch_add(&amoadd_count, 1, __ATOMIC_RELAXED);
    }

    barrier_all();
    if (hart != 0)
        return 0;

    unsigned long expected = (unsigned long)HELLO_ITERS * nharts;
    unsigned long amoadd = __atomic_load_n(&amoadd_count, __ATOMIC_RELAXED);
    printf("counters: spin=%lu ticket=%lu amoadd=%lu expected=%lu\n", spin_count, ticket_count,
           amoadd, expected);

    int rc = spin_count != expected ? 1 : ticket_count != expected ? 2 : amoadd != expected ? 3 : 0;
    printf("hello: %s\n", rc ? "FAIL" : "PASS");
    return rc;
}
