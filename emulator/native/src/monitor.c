/* The contention monitor's counting (instruments/contention.py ContentionMonitor.__call__ and
 * its lock rules, the same rules in C): atomics per hart and site, locks found from use. */
#include <stdlib.h>

#include "native.h"

static nm_lock *lock_new(nm_machine *m, uint64_t address) {
    uint64_t *index = map_put(m->locks, address, (uint64_t)m->nlocks);
    if (!index)
        return NULL;
    if (*index != (uint64_t)m->nlocks)
        return &m->lock_table[*index];
    nm_lock *table = realloc(m->lock_table, (m->nlocks + 1) * sizeof *table);
    if (!table)
        return NULL;
    m->lock_table = table;
    nm_lock *lock = &table[m->nlocks++];
    *lock = (nm_lock){.address = address, .holder = -1};
    for (int i = 0; i < MAX_HARTS; i++)
        lock->waiting_since[i] = -1;
    return lock;
}

static nm_lock *lock_find(nm_machine *m, uint64_t address) {
    uint64_t *index = map_find(m->locks, address);
    return index ? &m->lock_table[*index] : NULL;
}

void lock_acquire(nm_lock *lock, int32_t hart, int64_t when) {
    lock->acquisitions++;
    lock->holders[hart]++;
    lock->holder = hart;
    lock->acquired_at = when;
    if (lock->waiting_since[hart] >= 0) {
        lock->wait_instructions += when - lock->waiting_since[hart];
        lock->waiting_since[hart] = -1;
    }
}

void lock_release(nm_lock *lock, int64_t when) {
    int64_t hold = when - lock->acquired_at;
    lock->releases++;
    lock->hold_total += hold;
    if (hold > lock->hold_max)
        lock->hold_max = hold;
    lock->holder = -1;
}

static void swap(nm_machine *m, int32_t hart, uint64_t address, uint64_t old, uint64_t value,
                 int64_t when) {
    nm_lock *lock;
    if (value == 0) {
        lock = lock_find(m, address);
        if (lock && !lock->declared && lock->holder == hart)
            lock_release(lock, when);
        return;
    }
    lock = lock_new(m, address);
    if (!lock || lock->declared)
        return;
    if (old == 0) {
        lock_acquire(lock, hart, when);
    } else {
        lock->failed_attempts++;
        if (lock->waiting_since[hart] < 0)
            lock->waiting_since[hart] = when;
    }
}

void monitor_atomic(nm_machine *m, nm_hart *h, int32_t slot, int32_t kind, int32_t is_swap,
                    int64_t address, uint64_t old, uint64_t value, int32_t ok, int64_t when) {
    nm_site_stats *site = &m->site_stats[slot];
    site->count++;
    site->by_hart[h->id]++;
    if (kind == ATOMIC_AMO) {
        h->amos++;
        if (is_swap)
            swap(m, h->id, (uint64_t)address, old, value, when);
    } else if (kind == ATOMIC_LR) {
        h->lrs++;
        if (h->has_last_lr && h->last_lr_pc == site->pc && !h->succeeded_since_lr) {
            h->cas_retries++;
            site->retries++;
        }
        h->last_lr_pc = site->pc;
        h->last_lr_address = (uint64_t)address;
        h->last_lr_value = old;
        h->has_last_lr = 1;
        h->succeeded_since_lr = 0;
    } else if (kind == ATOMIC_SC) {
        if (ok) {
            h->sc_success++;
            h->succeeded_since_lr = 1;
            if (h->has_last_lr && h->last_lr_address == (uint64_t)address &&
                h->last_lr_value == 0 && value) {
                nm_lock *lock = lock_new(m, (uint64_t)address);
                if (lock && !lock->declared)
                    lock_acquire(lock, h->id, when);
            }
        } else {
            h->sc_failure++;
            site->sc_failures++;
        }
    } else if (kind == ATOMIC_FENCE && address != NO_ADDRESS) {
        h->release_fences++;
        nm_lock *lock = lock_find(m, (uint64_t)address);
        if (lock && !lock->declared && value == 0 && lock->holder == h->id)
            lock_release(lock, when + 1); /* the store right after the fence */
    }
}

/* ---- declared locks (`--lock ACQUIRE:RELEASE`): probes time the functions ---------------- */

/* ACQUIRE was entered with the lock at `address`. */
int32_t nm_declare_lock(nm_machine *m, uint64_t address) {
    nm_lock *lock = lock_new(m, address);
    if (!lock)
        return -1;
    lock->declared = 1;
    return 0;
}

/* ACQUIRE, entered at `entered`, returned at `now`: acquired after now - entered. */
void nm_declared_acquired(nm_machine *m, uint64_t address, int32_t hart, int64_t entered,
                          int64_t now) {
    nm_lock *lock = lock_find(m, address);
    if (!lock)
        return;
    int64_t duration = now - entered;
    if (!lock->durations || duration < lock->duration_min) {
        lock->duration_min = duration;
        lock->at_min = 0;
    }
    if (duration == lock->duration_min)
        lock->at_min++;
    lock->durations++;
    lock->duration_sum += duration;
    lock_acquire(lock, hart, now);
}

/* RELEASE was entered at `now` with the lock at `address`. */
void nm_declared_release(nm_machine *m, uint64_t address, int32_t hart, int64_t now) {
    nm_lock *lock = lock_find(m, address);
    if (lock && lock->declared && lock->holder == hart)
        lock_release(lock, now);
}
