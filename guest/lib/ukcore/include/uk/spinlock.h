/*
 * Unikraft's spinlock (lib/uklock) over the runtime's test-and-test-and-set lock. There are no
 * interrupts to mask in an allocator call here (handlers never allocate), so the _irqsave forms
 * take the lock and leave the flags alone.
 */
#ifndef UK_SPINLOCK_H
#define UK_SPINLOCK_H

#include <rt/lock.h>

struct uk_spinlock {
    spinlock_t lock;
};

#define UK_SPINLOCK_INITIALIZER() {SPINLOCK_INIT}
static inline void uk_spin_init(struct uk_spinlock *l) {
    __atomic_store_n(&l->lock.locked, 0, __ATOMIC_RELEASE);
}
static inline void uk_spin_lock(struct uk_spinlock *l) {
    spin_lock(&l->lock);
}
static inline void uk_spin_unlock(struct uk_spinlock *l) {
    spin_unlock(&l->lock);
}
static inline int uk_spin_trylock(struct uk_spinlock *l) {
    return spin_trylock(&l->lock);
}
#define uk_spin_lock_irqsave(l, flags)                                                             \
    do {                                                                                           \
        (flags) = 0;                                                                               \
        uk_spin_lock(l);                                                                           \
    } while (0)
#define uk_spin_unlock_irqrestore(l, flags)                                                        \
    do {                                                                                           \
        (void)(flags);                                                                             \
        uk_spin_unlock(l);                                                                         \
    } while (0)

#endif /* UK_SPINLOCK_H */
