/* IPIs through the SBI firmware: the IPI extension raises the target's supervisor software
 * interrupt (sip.SSIP), which stays pending until the target clears it. Waiting for one is
 * ipi_wait.c's. */
#include "../../ipi_private.h"
#include "sbi.h"

#include <rt/csr.h>
#include <rt/ipi.h>

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
