/*
 * Locks. Both are out of line so the host sees every acquire and release at a symbol.
 *
 * Data a lock protects must be visible to the compiler as shared: a `static` variable whose
 * address never escapes may be kept in a register across the (opaque) lock calls. Use globals
 * with external linkage, volatile, or atomics for such data.
 */
#ifndef RT_LOCK_H
#define RT_LOCK_H

#include <stdbool.h>

/* Test-and-test-and-set: amoswap to take it, plain loads while it is held. Not fair. */
typedef struct {
    unsigned locked;
} spinlock_t;

#define SPINLOCK_INIT {0}

void spin_lock(spinlock_t *lock);
bool spin_trylock(spinlock_t *lock);
void spin_unlock(spinlock_t *lock);

/* Ticket lock: amoadd draws a ticket, holders are served in ticket order (FIFO fair). */
typedef struct {
    unsigned next;
    unsigned owner;
} ticketlock_t;

#define TICKETLOCK_INIT {0, 0}

void ticket_lock(ticketlock_t *lock);
bool ticket_trylock(ticketlock_t *lock);
void ticket_unlock(ticketlock_t *lock);

#endif /* RT_LOCK_H */
