/* CLINT time: mtime for reading the clock, mtimecmp[h] for waking hart h. */
#include <contract.h>
#include <rt/hart.h>
#include <rt/irq.h>
#include <rt/mmio.h>
#include <rt/time.h>
#include <stdint.h>

uint64_t mtime_read(void) {
    return mmio_read64(CLINT_BASE + CLINT_MTIME);
}

void mtimecmp_write(uint64_t when) {
    mmio_write64(CLINT_BASE + CLINT_MTIMECMP + 8 * (uintptr_t)hart_id(), when);
}

void time_wait_until(uint64_t deadline) {
    unsigned long irq_flags = irq_save();
    unsigned long old_mie = irq_unmask(MIE_MTIE);
    mtimecmp_write(deadline);
    /* MTIP stays raised from the deadline on, so wfi cannot miss it. With MIE on, the window
     * lets the trap path take it (which also moves mtimecmp away). */
    while (mtime_read() < deadline) {
        wfi();
        if (irq_flags)
            irq_window();
    }
    mtimecmp_write(UINT64_MAX);
    if (!(old_mie & MIE_MTIE))
        irq_mask(MIE_MTIE);
    irq_restore(irq_flags);
}

void time_wait_ticks(uint64_t ticks) {
    time_wait_until(mtime_read() + ticks);
}
