/*
 * Local interrupt control, in the mode the runtime runs in (rt/csr.h: mstatus.MIE and mie in
 * M-mode, sstatus.SIE and sie in S-mode; "IE" below is that global enable). The runtime runs with
 * IE off; wfi still wakes on any interrupt that is pending and enabled in mie/sie, so most waiting
 * never needs the trap path.
 *
 * A wait that wants its interrupt to go through the trap path (so a registered handler runs)
 * must not test its condition with IE on: the interrupt could be taken between the test and
 * the wfi, and the wfi would then sleep with nothing pending. The pattern is
 *
 *     unsigned long flags = irq_save();          // IE off while testing
 *     while (!condition) { wfi(); irq_window(); }
 *     irq_restore(flags);
 *
 * wfi returns as soon as the interrupt is pending; irq_window() then lets it be taken.
 */
#ifndef RT_IRQ_H
#define RT_IRQ_H

#include <rt/csr.h>

/* Turn IE off; the result says whether it was on, for irq_restore(). */
static inline unsigned long irq_save(void) {
    return csr_read_clear(CSR_STATUS, STATUS_IE) & STATUS_IE;
}

static inline void irq_restore(unsigned long flags) {
    if (flags & STATUS_IE)
        csr_set(CSR_STATUS, STATUS_IE);
}

static inline void irq_enable(void) {
    csr_set(CSR_STATUS, STATUS_IE);
}
static inline void irq_disable(void) {
    csr_clear(CSR_STATUS, STATUS_IE);
}

/* Enable or disable interrupt sources in mie/sie (IE_SOFT, IE_TIMER); unmask returns the old
 * mie/sie. */
static inline unsigned long irq_unmask(unsigned long bits) {
    return csr_read_set(CSR_IE, bits);
}
static inline void irq_mask(unsigned long bits) {
    csr_clear(CSR_IE, bits);
}

/* Let an interrupt that is already pending be taken through the trap path, then close again. */
static inline void irq_window(void) {
    csr_set(CSR_STATUS, STATUS_IE);
    csr_clear(CSR_STATUS, STATUS_IE);
}

static inline void wfi(void) {
    __asm__ volatile("wfi" ::: "memory");
}

#endif /* RT_IRQ_H */
