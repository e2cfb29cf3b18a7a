/* Waiting for a deadline, the same on every platform: plat/<platform>/time.c reads the clock and
 * sets this hart's deadline (mtime_read, mtimecmp_write), whose timer interrupt stays raised from
 * the deadline on until the deadline moves. */
#include <rt/irq.h>
#include <rt/time.h>
#include <stdint.h>

void time_wait_until(uint64_t deadline) {
    unsigned long irq_flags = irq_save();
    unsigned long old_ie = irq_unmask(IE_TIMER);
    mtimecmp_write(deadline);
    /* The timer interrupt stays raised from the deadline on, so wfi cannot miss it. With
     * interrupts on, the window lets the trap path take it (which also moves the deadline away). */
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
