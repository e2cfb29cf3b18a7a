/*
 * Known numbers for the contention monitor's tests: each hart does CONT_AMOS amoadds on one
 * counter, then takes `contention_lock` CONT_LOCKS times around a critical section of exactly
 * CONT_HOLD nops, so hold times differ by exactly the difference in CONT_HOLD. CONT_LOCK picks
 * the lock: spin (default; recognised from its acquire pattern) or ticket (declared by symbol).
 */
#include "rt/runtime.h"

#ifndef CONT_AMOS
#define CONT_AMOS 100
#endif
#ifndef CONT_LOCKS
#define CONT_LOCKS 20
#endif
#ifndef CONT_HOLD
#define CONT_HOLD 10
#endif

#ifndef CONT_LOCK
#define CONT_LOCK spin
#endif

#define STR(x) #x
#define XSTR(x) STR(x)
#define LOCK_KIND_spin 1
#define LOCK_KIND_ticket 2
#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#if XCAT(LOCK_KIND_, CONT_LOCK) == LOCK_KIND_spin
spinlock_t contention_lock = SPINLOCK_INIT;
#define LOCK spin_lock
#define UNLOCK spin_unlock
#elif XCAT(LOCK_KIND_, CONT_LOCK) == LOCK_KIND_ticket
ticketlock_t contention_lock = TICKETLOCK_INIT;
#define LOCK ticket_lock
#define UNLOCK ticket_unlock
#else
#error "CONT_LOCK must be spin or ticket"
#endif
unsigned long contention_counter;
static volatile unsigned long protected_sum;

int app_main(unsigned hart, unsigned nharts) {
    for (unsigned i = 0; i < CONT_AMOS; i++)
        __atomic_fetch_add(&contention_counter, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < CONT_LOCKS; i++) {
        LOCK(&contention_lock);
        protected_sum = protected_sum + 1;
        __asm__ volatile(".rept " XSTR(CONT_HOLD) "\n nop\n .endr" ::: "memory");
        UNLOCK(&contention_lock);
    }
    if (hart != 0)
        return 0;
    /* Hart 0 finishes last only by chance: wait for everyone's increments. */
    while (__atomic_load_n(&contention_counter, __ATOMIC_ACQUIRE) <
           (unsigned long)nharts * CONT_AMOS)
        ;
    while (protected_sum < (unsigned long)nharts * CONT_LOCKS)
        ;
    printf("contention: amoadds=%lu locked=%lu\n", contention_counter, protected_sum);
    return 0;
}
