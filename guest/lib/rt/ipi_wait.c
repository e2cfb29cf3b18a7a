/* The waiting side of IPIs, the same on every platform: the trap path (trap.c) turns a software
 * interrupt it takes into this hart's ipi_pending flag; plat/<platform>/ipi.c sends IPIs and
 * acknowledges the one pending in the interrupt controller (ipi_ack: CLINT msip, or sip.SSIP under
 * SBI firmware). */
#include "ipi_private.h"

#include <rt/hart.h>
#include <rt/ipi.h>
#include <rt/irq.h>

static bool take_pending_flag(void) {
    return __atomic_exchange_n(&this_hart()->ipi_pending, 0, __ATOMIC_ACQUIRE) != 0;
}

bool ipi_take(void) {
    bool flag = take_pending_flag();
    return ipi_ack() || flag;
}

void ipi_wait(void) {
    unsigned long irq_flags = irq_save();
    unsigned long old_ie = irq_unmask(IE_SOFT);
    for (;;) {
        if (take_pending_flag())
            break;
        /* With interrupts off nobody else will lower the software interrupt: consume it here. */
        if (!irq_flags && ipi_ack())
            break;
        wfi();
        if (irq_flags)
            irq_window();
    }
    if (!(old_ie & IE_SOFT))
        irq_mask(IE_SOFT);
    irq_restore(irq_flags);
}
