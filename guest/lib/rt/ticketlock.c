/* Ticket lock: amoadd hands out tickets; `owner` names the ticket being served. Only the holder
 * writes `owner`, so release is a plain store. */
#include <rt/lock.h>

void ticket_lock(ticketlock_t *lock) {
    unsigned ticket = __atomic_fetch_add(&lock->next, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&lock->owner, __ATOMIC_ACQUIRE) != ticket)
        ;
}

bool ticket_trylock(ticketlock_t *lock) {
    /* Free exactly when no ticket is outstanding: next == owner. Take the next ticket only then. */
    unsigned owner = __atomic_load_n(&lock->owner, __ATOMIC_RELAXED);
    unsigned expected = owner;
    return __atomic_compare_exchange_n(&lock->next, &expected, owner + 1, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

void ticket_unlock(ticketlock_t *lock) {
    unsigned owner = __atomic_load_n(&lock->owner, __ATOMIC_RELAXED);
    __atomic_store_n(&lock->owner, owner + 1, __ATOMIC_RELEASE);
}
