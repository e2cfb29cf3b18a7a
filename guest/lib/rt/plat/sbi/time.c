/*
 * Time under SBI firmware: the time CSR for reading the clock (the CLINT belongs to the firmware:
 * OpenSBI keeps it from S-mode), the TIME extension's set_timer for waking, which raises the
 * supervisor timer interrupt (sip.STIP) from the deadline on. Waiting on them is time_wait.c's.
 */
#include "sbi.h"

#include <rt/csr.h>
#include <rt/time.h>
#include <stdint.h>

uint64_t mtime_read(void) {
    return csr_read(time);
}

void mtimecmp_write(uint64_t when) {
    /* Setting a deadline also lowers STIP until it passes; UINT64_MAX means never. */
    (void)sbi_call(SBI_EXT_TIME, SBI_TIME_SET_TIMER, when, 0, 0);
}
