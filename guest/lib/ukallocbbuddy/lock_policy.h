/*
 * How bbuddy.c is made safe (or not) for several harts, chosen at build time by ALLOC_LOCK:
 *
 *   none      no locks, plain counter and bitmap updates: Unikraft's bbuddy today. Correct on
 *             one hart only; under SMP its free lists get corrupted.
 *   spin      one test-and-test-and-set spinlock (rt spinlock_t) around every operation.
 *   ticket    one ticket lock (rt ticketlock_t) around every operation: FIFO fair.
 *   perorder  Unikraft PR #801's scheme: one spinlock per free-list order, taken only around
 *             that list's pushes, pops and buddy checks, plus one lock for addmem's region list;
 *             the free-page counter and the bitmap words are updated with atomics.
 *
 * bbuddy.c calls every hook below at the place the finest policy needs it; the others make the
 * hooks empty. The "whole" lock brackets a complete operation, the "order" lock one list.
 */
#ifndef ALLOC_LOCK_POLICY_H
#define ALLOC_LOCK_POLICY_H

#include <alloc/alloc.h>
#include <rt/lock.h>

#define ALLOC_LOCK_ID_none 1
#define ALLOC_LOCK_ID_spin 2
#define ALLOC_LOCK_ID_ticket 3
#define ALLOC_LOCK_ID_perorder 4

#ifndef ALLOC_LOCK
#error "define ALLOC_LOCK as none, spin, ticket or perorder (see guest/configs.toml)"
#endif
#define ALLOC_LOCK_ID ALLOC_CAT(ALLOC_LOCK_ID_, ALLOC_LOCK)
#if ALLOC_LOCK_ID < 1 || ALLOC_LOCK_ID > 4
#error "ALLOC_LOCK must be none, spin, ticket or perorder"
#endif

#ifndef LOCK_POLICY_ORDERS
#error "include lock_policy.h after defining LOCK_POLICY_ORDERS"
#endif

struct lock_policy {
#if ALLOC_LOCK_ID == ALLOC_LOCK_ID_spin
    spinlock_t whole;
#elif ALLOC_LOCK_ID == ALLOC_LOCK_ID_ticket
    ticketlock_t whole;
#elif ALLOC_LOCK_ID == ALLOC_LOCK_ID_perorder
    spinlock_t order[LOCK_POLICY_ORDERS];
    spinlock_t addmem;
#else
    char unused;
#endif
};

#define LOCK_POLICY_ATOMIC (ALLOC_LOCK_ID == ALLOC_LOCK_ID_perorder)

static inline void lp_whole_lock(struct lock_policy *lp) {
#if ALLOC_LOCK_ID == ALLOC_LOCK_ID_spin
    spin_lock(&lp->whole);
#elif ALLOC_LOCK_ID == ALLOC_LOCK_ID_ticket
    ticket_lock(&lp->whole);
#else
    (void)lp;
#endif
}

static inline void lp_whole_unlock(struct lock_policy *lp) {
#if ALLOC_LOCK_ID == ALLOC_LOCK_ID_spin
    spin_unlock(&lp->whole);
#elif ALLOC_LOCK_ID == ALLOC_LOCK_ID_ticket
    ticket_unlock(&lp->whole);
#else
    (void)lp;
#endif
}

static inline void lp_order_lock(struct lock_policy *lp, unsigned order) {
#if LOCK_POLICY_ATOMIC
    spin_lock(&lp->order[order]);
#else
    (void)lp, (void)order;
#endif
}

static inline void lp_order_unlock(struct lock_policy *lp, unsigned order) {
#if LOCK_POLICY_ATOMIC
    spin_unlock(&lp->order[order]);
#else
    (void)lp, (void)order;
#endif
}

/* Serializes changes to the region list (the whole lock already does for spin and ticket). */
static inline void lp_addmem_lock(struct lock_policy *lp) {
#if LOCK_POLICY_ATOMIC
    spin_lock(&lp->addmem);
#else
    (void)lp;
#endif
}

static inline void lp_addmem_unlock(struct lock_policy *lp) {
#if LOCK_POLICY_ATOMIC
    spin_unlock(&lp->addmem);
#else
    (void)lp;
#endif
}

/* The free-page counter: read without any lock by pavailmem, so always loaded atomically. */
static inline void lp_counter_add(unsigned long *counter, long delta) {
#if LOCK_POLICY_ATOMIC
    __atomic_fetch_add(counter, (unsigned long)delta, __ATOMIC_RELAXED);
#else
    *counter += (unsigned long)delta;
#endif
}

/*
 * Bitmap words: under per-order locks two harts may update different bits of one word at once
 * (neighbouring blocks of different orders), so the read-modify-write must be one amo.
 */
static inline void lp_bits_set(unsigned long *word, unsigned long mask) {
#if LOCK_POLICY_ATOMIC
    __atomic_fetch_or(word, mask, __ATOMIC_RELAXED);
#else
    *word |= mask;
#endif
}

static inline void lp_bits_clear(unsigned long *word, unsigned long mask) {
#if LOCK_POLICY_ATOMIC
    __atomic_fetch_and(word, ~mask, __ATOMIC_RELAXED);
#else
    *word &= ~mask;
#endif
}

static inline unsigned long lp_bits_load(const unsigned long *word) {
#if LOCK_POLICY_ATOMIC
    return __atomic_load_n(word, __ATOMIC_RELAXED);
#else
    return *word;
#endif
}

#endif /* ALLOC_LOCK_POLICY_H */
