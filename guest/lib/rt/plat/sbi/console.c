/*
 * The console through the SBI firmware: the DBCN extension (a buffer per call) when the firmware
 * has it, else the legacy console_putchar (a byte per call). console_lock.c serializes the harts'
 * writes.
 */
#include "../../console_private.h"
#include "sbi.h"

#include <stdint.h>

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

void console_device_write(const char *s, size_t n) {
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
