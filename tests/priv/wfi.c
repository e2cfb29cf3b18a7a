/*
 * wfi: when it waits and what wakes it (privileged spec, "Wait for Interrupt").
 *
 * - wfi returns when an interrupt is pending and enabled in mie, whatever mstatus.MIE: with
 *   MIE = 0 no trap is taken and execution goes on after the wfi. Pending at once: MSIP from the
 *   hart's own CLINT msip, SSIP the hart set in its own mip. Later: the timer (MTIP); another
 *   hart's IPI (each hart other than 0 sleeps until hart 0 writes its msip).
 * - A pending interrupt not enabled in mie does not end the wait (the spec would allow a
 *   spurious return; QEMU 7.2 does not return, and we check that: the hart sleeps on until the
 *   enabled timer).
 * - With MIE = 1, the interrupt that ends the wait is taken with mepc = the wfi's address + 4.
 * - wfi in U is an illegal instruction (S-mode exists); in S with mstatus.TW = 1 too; in S with
 *   TW = 0 it waits (here until an M timer interrupt, taken with mepc after the wfi).
 *
 * Runs on every hart (PRIV_ALL_HARTS=1): hart 0 runs the single-hart checks, then wakes the
 * others one by one.
 */
#include "priv.h"

#define WFI 0x10500073
#define LATER (MTIME_HZ / 5) /* 200 ms: a timer this far away does not fire before the wfi */

static volatile int sleeping[PRIV_MAX_HARTS], woken[PRIV_MAX_HARTS];

static inline void wfi(void) {
    __asm__ volatile("wfi" ::: "memory");
}
static void timer_at(uint64_t t) {
    *clint_mtimecmp(hart_id()) = t;
}

/* wfi with `irq` pending and enabled in mie, MIE = 0: returns, no trap. */
static void returns_for_pending(ulong irq) {
    csr_write(mie, 1UL << irq);
    if (irq == IRQ_M_SOFT)
        *clint_msip(hart_id()) = 1;
    else
        csr_set(mip, 1UL << irq);
    expect_trap();
    wfi();
    CHECK_EQ(trap_taken(), 0);
    *clint_msip(hart_id()) = 0;
    csr_clear(mip, 1UL << irq);
    csr_write(mie, 0);
}

/* `mode` executes wfi; it must be an illegal instruction. The timer, enabled and due LATER,
 * ends the wait (as an interrupt, failing the check) should wfi sleep instead. */
static void illegal_in(int mode) {
    csr_write(mie, MIP_MTIP);
    timer_at(mtime() + LATER);
    expect_trap();
    exec_in(mode, WFI);
    timer_at(~0UL);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, CAUSE_ILLEGAL_INSTRUCTION);
    CHECK_EQ(trap()->epc, exec_pc());
    csr_write(mie, 0);
}

static void single_hart_checks(void) {
    section("wfi with MSIP pending, MIE = 0");
    returns_for_pending(IRQ_M_SOFT);
    section("wfi with SSIP (set by this hart in mip) pending, MIE = 0");
    returns_for_pending(IRQ_S_SOFT);

    section("wfi until the timer, MIE = 0");
    uint64_t at = mtime() + MTIME_HZ / 1000;
    timer_at(at);
    csr_write(mie, MIP_MTIP);
    expect_trap();
    for (int i = 0; i < 100 && !(csr_read(mip) & MIP_MTIP); i++)
        wfi();
    CHECK(csr_read(mip) & MIP_MTIP);
    CHECK(mtime() >= at);
    CHECK_EQ(trap_taken(), 0);
    timer_at(~0UL);

    section("a pending interrupt not enabled in mie does not end wfi");
    csr_set(mip, MIP_SSIP);
    at = mtime() + MTIME_HZ / 1000;
    timer_at(at);
    wfi();
    CHECK(mtime() >= at);
    csr_clear(mip, MIP_SSIP);
    timer_at(~0UL);
    csr_write(mie, 0);

    section("wfi with MIE = 1: the interrupt is taken after the wfi");
    timer_at(mtime() + LATER);
    csr_write(mie, MIP_MTIP);
    expect_trap();
    ulong after;
    __asm__ volatile("la %0, 1f\n"
                     "csrsi mstatus, 8\n"
                     "wfi\n"
                     "1: csrci mstatus, 8"
                     : "=&r"(after)::"memory");
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, INTERRUPT(IRQ_M_TIMER));
    CHECK_EQ(trap()->epc, after);
    timer_at(~0UL);
    csr_write(mie, 0);

    section("wfi in U");
    illegal_in(PRV_U);
    section("wfi in S with mstatus.TW = 1");
    csr_set(mstatus, MSTATUS_TW);
    illegal_in(PRV_S);
    csr_clear(mstatus, MSTATUS_TW);
    section("wfi in S with mstatus.TW = 0 waits for the timer");
    csr_write(mie, MIP_MTIP);
    timer_at(mtime() + LATER);
    expect_trap();
    exec_in(PRV_S, WFI);
    timer_at(~0UL);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, INTERRUPT(IRQ_M_TIMER));
    CHECK_EQ(trap()->epc, exec_pc() + 4);
    csr_write(mie, 0);
}

/* Harts other than 0: MSIE only, MIE = 0, wfi until MSIP. */
static void sleep_until_ipi(int me) {
    csr_write(mie, MIP_MSIP);
    expect_trap();
    __atomic_store_n(&sleeping[me], 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 1000 && !(csr_read(mip) & MIP_MSIP); i++)
        wfi();
    section("woken by hart 0's IPI, no trap");
    CHECK(csr_read(mip) & MIP_MSIP);
    CHECK_EQ(trap_taken(), 0);
    *clint_msip(me) = 0;
    csr_write(mie, 0);
    __atomic_store_n(&woken[me], 1, __ATOMIC_RELEASE);
}

void test_main(void) {
    int me = hart_id();
    if (me != 0) {
        sleep_until_ipi(me);
        return;
    }
    single_hart_checks();
    for (int h = 1; h < priv_nharts; h++) {
        section("the other hart went to sleep");
        CHECK(wait_flag(&sleeping[h], MTIME_HZ));
        delay(10000); /* msip stays pending: a wfi after the write returns at once anyway */
        *clint_msip(h) = 1;
        section("the other hart woke up");
        CHECK(wait_flag(&woken[h], MTIME_HZ));
    }
}

CHECKS_FIT();
