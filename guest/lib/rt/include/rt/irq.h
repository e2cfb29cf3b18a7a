/*
 * Local interrupt control. The runtime runs with mstatus.MIE off; wfi still wakes on any interrupt
 * that is pending and enabled in mie, so most waiting never needs the trap path.
 *
 * A wait that wants its interrupt to go through the trap path (so a registered handler runs)
 * must not test its condition with MIE on: the interrupt could be taken between the test and
 * the wfi, and the wfi would then sleep with nothing pending. The pattern is
 *
 *     unsigned long flags = irq_save();          // MIE off while testing
 *     while (!condition) { wfi(); irq_window(); }
 *     irq_restore(flags);
 *
 * wfi returns as soon as the interrupt is pending; irq_window() then lets it be taken.
 */
#ifndef RT_IRQ_H
#define RT_IRQ_H

#include <rt/csr.h>

/* Turn MIE off; the result says whether it was on, for irq_restore(). */
static inline unsigned long irq_save(void) {
    return csr_read_clear(mstatus, MSTATUS_MIE) & MSTATUS_MIE;
}

static inline void irq_restore(unsigned long flags) {
    if (flags & MSTATUS_MIE)
        csr_set(mstatus, MSTATUS_MIE);
}

static inline void irq_enable(void) {
    csr_set(mstatus, MSTATUS_MIE);
}
static inline void irq_disable(void) {
    csr_clear(mstatus, MSTATUS_MIE);
}

/* Enable or disable interrupt sources in mie (MIE_MSIE, MIE_MTIE); unmask returns the old mie. */
static inline unsigned long irq_unmask(unsigned long bits) {
    return csr_read_set(mie, bits);
}
static inline void irq_mask(unsigned long bits) {
    csr_clear(mie, bits);
}

/* Let an interrupt that is already pending be taken through the trap path, then close again. */
static inline void irq_window(void) {
    csr_set(mstatus, MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
}

static inline void wfi(void) {
    __asm__ volatile("wfi" ::: "memory");
}

#endif /* RT_IRQ_H */
