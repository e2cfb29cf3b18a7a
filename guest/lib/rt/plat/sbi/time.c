/*
 * Time under SBI firmware: the time CSR for reading the clock (the CLINT belongs to the firmware:
 * OpenSBI keeps it from S-mode), the TIME extension's set_timer for waking, which raises the
 * supervisor timer interrupt (sip.STIP) from the deadline on. The waiting protocol is
 * plat/bare/time.c's.
 */
#include "sbi.h"

#include <rt/csr.h>
#include <rt/irq.h>
#include <rt/time.h>
#include <stdint.h>

uint64_t mtime_read(void) {
    return csr_read(time);
}

void mtimecmp_write(uint64_t when) {
    /* Setting a deadline also lowers STIP until it passes; UINT64_MAX means never. */
    (void)sbi_call(SBI_EXT_TIME, SBI_TIME_SET_TIMER, when, 0, 0);
}

void time_wait_until(uint64_t deadline) {
    unsigned long irq_flags = irq_save();
    unsigned long old_ie = irq_unmask(IE_TIMER);
    mtimecmp_write(deadline);
    /* STIP stays raised from the deadline on, so wfi cannot miss it. With interrupts on, the
     * window lets the trap path take it (which also moves the deadline away). */
    while (mtime_read() < deadline) {
        wfi();
        if (irq_flags)
            irq_window();
    }
    mtimecmp_write(UINT64_MAX);
    if (!(old_ie & IE_TIMER))
        irq_mask(IE_TIMER);
    irq_restore(irq_flags);
}

void time_wait_ticks(uint64_t ticks) {
    time_wait_until(mtime_read() + ticks);
}
