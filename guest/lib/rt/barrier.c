/*
 * Sense-reversing barrier. A hart's local sense is the barrier's sense as it reads it on
 * arrival: the sense cannot flip before this hart has arrived, so that value names the current
 * episode. Deriving it per arrival (instead of keeping one bit per hart) keeps any number of
 * barrier objects independent of each other.
 */
#include <rt/barrier.h>

void barrier_init(struct barrier *b, unsigned total) {
    b->count = 0;
    b->total = total;
    __atomic_store_n(&b->sense, 0, __ATOMIC_RELEASE);
}

void barrier_wait(struct barrier *b) {
    unsigned sense = __atomic_load_n(&b->sense, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->total) {
        /* Last to arrive: reset for the next episode before releasing anyone into it. */
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->sense, !sense, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) == sense)
        ;
}
