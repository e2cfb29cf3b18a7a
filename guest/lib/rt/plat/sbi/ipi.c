/* IPIs through the SBI firmware: the IPI extension raises the target's supervisor software
 * interrupt (sip.SSIP), which stays pending until the target clears it. The waiting protocol is
 * plat/bare/ipi.c's, with sip.SSIP for msip. */
#include "../../ipi_private.h"
#include "sbi.h"

#include <rt/csr.h>
#include <rt/hart.h>
#include <rt/ipi.h>
#include <rt/irq.h>

void ipi_send(unsigned hart) {
    /* Data written before the IPI must be visible to the woken hart. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    (void)sbi_call(SBI_EXT_IPI, SBI_IPI_SEND_IPI, 1, hart, 0); /* hart_mask 1 from base `hart` */
}

bool ipi_ack(void) {
    if (!(csr_read_clear(sip, SIP_SSIP) & SIP_SSIP))
        return false;
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
    unsigned long old_ie = irq_unmask(IE_SOFT);
    for (;;) {
        if (take_pending_flag())
            break;
        /* With interrupts off nobody else will clear sip.SSIP: consume it here. */
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
