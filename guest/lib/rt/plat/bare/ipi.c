/* IPIs: msip[h] in the CLINT raises hart h's machine software interrupt until cleared. Waiting for
 * one is ipi_wait.c's. */
#include "../../ipi_private.h"

#include <contract.h>
#include <rt/hart.h>
#include <rt/ipi.h>
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
