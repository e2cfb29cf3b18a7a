/*
 * Sense-reversing barrier: arrivals are counted with amoadd; the last one resets the count and
 * flips the barrier's sense, which releases the others.
 */
#ifndef RT_BARRIER_H
#define RT_BARRIER_H

struct barrier {
    unsigned count;
    unsigned total;
    unsigned sense;
};

#define BARRIER_INIT(n) {0, (n), 0}

void barrier_init(struct barrier *b, unsigned total);
void barrier_wait(struct barrier *b);

/* Barrier over every hart running the app (hart_count() of them). */
void barrier_all(void);

#endif /* RT_BARRIER_H */
