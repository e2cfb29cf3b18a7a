/*
 * The console through the SBI firmware: the DBCN extension (a buffer per call) when the firmware
 * has it, else the legacy console_putchar (a byte per call). The lock makes each console_write one
 * unbroken run of bytes.
 */
#include "sbi.h"

#include <rt/console.h>
#include <rt/lock.h>
#include <stdint.h>

static spinlock_t console_lock = SPINLOCK_INIT;

enum { CONSOLE_UNKNOWN, CONSOLE_DBCN, CONSOLE_LEGACY };
/* Probed on first use; every hart that probes finds the same answer. */
static int console_via = CONSOLE_UNKNOWN;

static int console_method(void) {
    int via = __atomic_load_n(&console_via, __ATOMIC_RELAXED);
    if (via == CONSOLE_UNKNOWN) {
        via = sbi_probe(SBI_EXT_DBCN) ? CONSOLE_DBCN : CONSOLE_LEGACY;
        __atomic_store_n(&console_via, via, __ATOMIC_RELAXED);
    }
    return via;
}

static void legacy_write(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        (void)sbi_ecall(SBI_EXT_LEGACY_PUTCHAR, 0, (unsigned char)s[i], 0, 0);
}

static void sbi_write(const char *s, size_t n) {
    if (console_method() == CONSOLE_LEGACY) {
        legacy_write(s, n);
        return;
    }
    /* DBCN may write fewer bytes than asked; an error leaves the rest to the legacy call. The
     * address is physical, which is ours too: the runtime never turns paging on. */
    while (n > 0) {
        struct sbiret ret = sbi_ecall(SBI_EXT_DBCN, SBI_DBCN_WRITE, n, (uintptr_t)s, 0);
        if (ret.error != SBI_SUCCESS) {
            legacy_write(s, n);
            return;
        }
        s += ret.value;
        n -= (size_t)ret.value;
    }
}

void console_write(const char *s, size_t n) {
    spin_lock(&console_lock);
    sbi_write(s, n);
    spin_unlock(&console_lock);
}

void console_write_emergency(const char *s, size_t n) {
    /* The lock may be held by this very hart (a fault inside console_write), so give up on it
     * after a while rather than deadlock; a garbled line beats no line. */
    int locked = 0;
    for (int tries = 0; tries < 100000 && !locked; tries++)
        locked = spin_trylock(&console_lock);
    sbi_write(s, n);
    if (locked)
        spin_unlock(&console_lock);
}
