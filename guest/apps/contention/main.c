/*
 * Known numbers for the contention monitor's tests: each hart does CONT_AMOS amoadds on one
 * counter, then takes `contention_lock` CONT_LOCKS times around a critical section of exactly
 * CONT_HOLD nops, so hold times differ by exactly the difference in CONT_HOLD.
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

#define STR(x) #x
#define XSTR(x) STR(x)

spinlock_t contention_lock = SPINLOCK_INIT;
unsigned long contention_counter;
static volatile unsigned long protected_sum;

int app_main(unsigned hart, unsigned nharts) {
    for (unsigned i = 0; i < CONT_AMOS; i++)
        __atomic_fetch_add(&contention_counter, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < CONT_LOCKS; i++) {
        spin_lock(&contention_lock);
        protected_sum = protected_sum + 1;
        __asm__ volatile(".rept " XSTR(CONT_HOLD) "\n nop\n .endr" ::: "memory");
        spin_unlock(&contention_lock);
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
