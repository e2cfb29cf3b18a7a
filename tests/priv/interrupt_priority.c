/*
 * interrupt-priority: several interrupts pending and enabled at once are taken in the spec's
 * priority order MEI > MSI > MTI > SEI > SSI > STI (privileged spec, "Machine Interrupt
 * Registers (mip and mie)": "Multiple simultaneous interrupts destined for M-mode are handled in
 * the following decreasing priority order"). MEI needs a PLIC, which our memory map lacks, so
 * the order is checked over the other five.
 *
 * Emulator only: QEMU 7.2 without AIA takes the lowest-numbered pending interrupt first
 * (SSI, MSI, STI, MTI, SEI), so this program fails there by design (README.md).
 */
#include "priv.h"

static void set_pending(int irq, int on) {
    if (irq == IRQ_M_SOFT)
        *clint_msip(hart_id()) = (uint32_t)on;
    else if (irq == IRQ_M_TIMER)
        *clint_mtimecmp(hart_id()) = on ? 0 : ~0UL;
    else if (on)
        csr_set(mip, 1UL << irq);
    else
        csr_clear(mip, 1UL << irq);
}

/* All of `irqs` (in the order the spec ranks them) pending; returns after taking them. */
static void take_all(const int *irqs, int n) {
    csr_write(mie, 0);
    for (int i = n - 1; i >= 0; i--) {
        set_pending(irqs[i], 1);
        csr_set(mie, 1UL << irqs[i]);
    }
    expect_trap();
    csr_set(mstatus, MSTATUS_MIE);
    delay(1000);
    csr_clear(mstatus, MSTATUS_MIE);
    CHECK_EQ(trap_taken(), n);
    for (int i = 0; i < n; i++)
        CHECK_EQ(trap_log(i)->cause, INTERRUPT(irqs[i]));
    for (int i = 0; i < n; i++)
        set_pending(irqs[i], 0);
}

void test_main(void) {
    static const int all[] = {IRQ_M_SOFT, IRQ_M_TIMER, IRQ_S_EXT, IRQ_S_SOFT, IRQ_S_TIMER};
    static const int sei_ssi[] = {IRQ_S_EXT, IRQ_S_SOFT};
    static const int msi_ssi[] = {IRQ_M_SOFT, IRQ_S_SOFT};
    static const int mti_sti[] = {IRQ_M_TIMER, IRQ_S_TIMER};
    section("MSI, MTI, SEI, SSI, STI all pending");
    take_all(all, 5);
    section("SEI before SSI");
    take_all(sei_ssi, 2);
    section("MSI before SSI");
    take_all(msi_ssi, 2);
    section("MTI before STI");
    take_all(mti_sti, 2);
}

CHECKS_FIT();
