/* IPIs: msip[h] in the CLINT raises hart h's machine software interrupt until cleared. */
#include "../../ipi_private.h"

#include <contract.h>
#include <rt/hart.h>
#include <rt/ipi.h>
#include <rt/irq.h>
#include <rt/mmio.h>
#include <stdint.h>

static uintptr_t msip_addr(unsigned hart) {
    return CLINT_BASE + CLINT_MSIP + 4 * (uintptr_t)hart;
}

void ipi_send(unsigned hart) {
    /* Data written before the IPI must be visible to the woken hart. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    mmio_write32(msip_addr(hart), 1);
}

bool ipi_ack(void) {
    uintptr_t addr = msip_addr(hart_id());
    if (!(mmio_read32(addr) & 1))
        return false;
    mmio_write32(addr, 0);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return true;
}

static bool take_pending_flag(void) {
    return __atomic_exchange_n(&this_hart()->ipi_pending, 0, __ATOMIC_ACQUIRE) != 0;
}

bool ipi_take(void) {
    bool flag = take_pending_flag();
    return ipi_ack() || flag;
}

void ipi_wait(void) {
    unsigned long irq_flags = irq_save();
    unsigned long old_mie = irq_unmask(MIE_MSIE);
    for (;;) {
        if (take_pending_flag())
            break;
        /* With interrupts off nobody else will clear msip: consume it here. */
        if (!irq_flags && ipi_ack())
            break;
        wfi();
        if (irq_flags)
            irq_window();
    }
    if (!(old_mie & MIE_MSIE))
        irq_mask(MIE_MSIE);
    irq_restore(irq_flags);
}
