/* TTAS spinlock: the amoswap only runs when the lock looked free, so waiters spin on plain loads
 * of a shared line instead of hammering it with stores. */
#include <rt/lock.h>

void spin_lock(spinlock_t *lock) {
    for (;;) {
        if (!__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE))
            return;
        while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
            ;
    }
}

bool spin_trylock(spinlock_t *lock) {
    if (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
        return false;
    return !__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE);
}

void spin_unlock(spinlock_t *lock) {
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}
