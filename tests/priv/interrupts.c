/*
 * interrupts: the M- and S-level software and timer interrupts and SEI (privileged spec:
 * "Machine Interrupt Registers (mip and mie)", "Machine Trap-Vector Base-Address Register",
 * "Machine Timer Registers"; the CLINT's msip/mtimecmp as QEMU virt has them).
 *
 * - MSIP follows the CLINT's msip word; MTIP is set while mtime >= mtimecmp (not before) and
 *   clears when mtimecmp moves past mtime; SSIP, STIP and SEIP are written by M in mip.
 * - Each is taken with mcause = interrupt bit | its number, only when its mie bit is set and
 *   interrupts are globally enabled for M: in M only with mstatus.MIE (taken right after the
 *   write that sets it), in S and U always. An S-level interrupt delegated to S is taken in S
 *   only with sstatus.SIE, and in U always.
 * - Several pending at once: an interrupt for M before one delegated to S (taken in U), and MSI
 *   before MTI. The spec's full order (MEI > MSI > MTI > SEI > SSI > STI) is
 *   interrupt_priority.c: QEMU 7.2 takes the lowest-numbered first instead.
 * - Vectored mode (mtvec/stvec MODE = 1): an interrupt enters at base + 4 * cause, an exception
 *   at base.
 *
 * Built twice: interrupts (hart 0) and interrupts-smp (every hart at once, each with its own
 * msip and mtimecmp).
 */
#include "priv.h"

static ulong mpp(ulong status) {
    return (status & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT;
}
static void msip(uint32_t v) {
    *clint_msip(hart_id()) = v;
}
static void timer_at(uint64_t t) {
    *clint_mtimecmp(hart_id()) = t;
}
static long spin(long n) {
    delay((unsigned)n);
    return 0;
}

/* Makes `irq` pending: the CLINT for MSIP and MTIP, mip for the others. */
static void raise(int irq) {
    if (irq == IRQ_M_SOFT)
        msip(1);
    else if (irq == IRQ_M_TIMER)
        timer_at(0);
    else
        csr_set(mip, 1UL << irq);
}

static void lower(int irq) {
    if (irq == IRQ_M_SOFT)
        msip(0);
    else if (irq == IRQ_M_TIMER)
        timer_at(~0UL);
    else
        csr_clear(mip, 1UL << irq);
}

/* Exactly one interrupt, taken by M, from `from` (MPP). */
static void taken_by_m(int irq, int from) {
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_M);
    CHECK_EQ(trap()->cause, INTERRUPT(irq));
    CHECK_EQ(mpp(trap()->status), from);
}

/* In M: MIE opened for a while; returns with it closed. */
static void open_mie(void) {
    csr_set(mstatus, MSTATUS_MIE);
    delay(1000);
    csr_clear(mstatus, MSTATUS_MIE);
}

/* SSIP, STIP, SEIP: M writes mip; taken by M (not delegated) once MIE is set. */
static void written_by_m(int irq) {
    csr_write(mie, 1UL << irq);
    raise(irq);
    CHECK(csr_read(mip) & (1UL << irq));
    expect_trap();
    open_mie();
    taken_by_m(irq, PRV_M);
    lower(irq);
    CHECK_EQ(csr_read(mip) & (1UL << irq), 0);
}

/* M-level target, mstatus.MIE = 0: taken in S and U (always enabled there) iff mie has it. */
static void in_lower_mode(int mode, int irq, int enabled) {
    csr_write(mie, enabled ? 1UL << irq : 0);
    raise(irq);
    expect_trap();
    run_in_mode(mode, spin, 1000);
    if (enabled)
        taken_by_m(irq, mode);
    else
        CHECK_EQ(trap_taken(), 0);
    lower(irq);
    csr_write(mie, 0);
}

/* Vectored mtvec: `irq` enters through slot irq. */
static void vectored(int irq) {
    csr_write(mie, 1UL << irq);
    raise(irq);
    expect_trap();
    open_mie();
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, INTERRUPT(irq));
    CHECK_EQ(trap()->vector, irq);
    lower(irq);
}

void test_main(void) {
    csr_write(mie, 0);

    section("MSIP follows CLINT msip");
    csr_write(mie, MIP_MSIP);
    msip(1);
    CHECK(csr_read(mip) & MIP_MSIP);
    section("MSIP pending in M with mstatus.MIE = 0: not taken");
    expect_trap();
    delay(1000);
    CHECK_EQ(trap_taken(), 0);
    section("MSIP taken right after mstatus.MIE is set");
    expect_trap();
    ulong after;
    __asm__ volatile("la %0, 1f\n"
                     "csrsi mstatus, 8\n"
                     "1: nop\n"
                     "nop\n"
                     "csrci mstatus, 8"
                     : "=&r"(after)::"memory");
    taken_by_m(IRQ_M_SOFT, PRV_M);
    CHECK_EQ(trap()->epc, after);
    msip(0);
    CHECK_EQ(csr_read(mip) & MIP_MSIP, 0);
    section("MSIP with mie.MSIE = 0: not taken");
    msip(1);
    csr_write(mie, 0);
    expect_trap();
    open_mie();
    CHECK_EQ(trap_taken(), 0);
    msip(0);

    section("MTIP clear while mtime < mtimecmp");
    timer_at(mtime() + 10 * MTIME_HZ);
    CHECK_EQ(csr_read(mip) & MIP_MTIP, 0);
    section("MTIP when mtime reaches mtimecmp");
    uint64_t at = mtime() + 2000;
    timer_at(at);
    csr_write(mie, MIP_MTIP);
    expect_trap();
    csr_set(mstatus, MSTATUS_MIE);
    wait_for_trap(MTIME_HZ); /* a second at most: QEMU on a loaded host delivers late */
    csr_clear(mstatus, MSTATUS_MIE);
    taken_by_m(IRQ_M_TIMER, PRV_M);
    CHECK(trap()->mtime >= at);
    CHECK(csr_read(mip) & MIP_MTIP);
    timer_at(~0UL);
    CHECK_EQ(csr_read(mip) & MIP_MTIP, 0);
    section("MTIP pending at once when mtimecmp <= mtime");
    timer_at(mtime());
    CHECK(csr_read(mip) & MIP_MTIP);
    timer_at(~0UL);

    section("SSIP written in mip by M");
    written_by_m(IRQ_S_SOFT);
    section("STIP written in mip by M");
    written_by_m(IRQ_S_TIMER);
    section("SEIP written in mip by M");
    written_by_m(IRQ_S_EXT);

    section("MSIP in S, mstatus.MIE = 0");
    in_lower_mode(PRV_S, IRQ_M_SOFT, 1);
    section("MSIP in U, mstatus.MIE = 0");
    in_lower_mode(PRV_U, IRQ_M_SOFT, 1);
    section("MTIP in U, mstatus.MIE = 0");
    in_lower_mode(PRV_U, IRQ_M_TIMER, 1);
    section("SSIP not delegated, in S with sstatus.SIE = 0");
    csr_clear(sstatus, MSTATUS_SIE);
    in_lower_mode(PRV_S, IRQ_S_SOFT, 1);
    section("MSIP in U with mie.MSIE = 0: not taken");
    in_lower_mode(PRV_U, IRQ_M_SOFT, 0);

    section("delegated SSIP in S with sstatus.SIE = 0: not taken");
    csr_write(mideleg, MIP_SSIP);
    csr_write(mie, MIP_SSIP);
    csr_set(mip, MIP_SSIP);
    expect_trap();
    run_in_mode(PRV_S, spin, 1000);
    CHECK_EQ(trap_taken(), 0);
    section("delegated SSIP in U with sstatus.SIE = 0: taken by S");
    expect_trap();
    run_in_mode(PRV_U, spin, 1000);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_S);
    CHECK_EQ(trap()->cause, INTERRUPT(IRQ_S_SOFT));
    CHECK_EQ(trap()->status & MSTATUS_SPP, 0);
    csr_clear(mip, MIP_SSIP);
    csr_write(mideleg, 0);
    csr_write(mie, 0);

    section("priority: MSI before MTI");
    csr_write(mie, MIP_MSIP | MIP_MTIP);
    raise(IRQ_M_TIMER);
    raise(IRQ_M_SOFT);
    expect_trap();
    open_mie();
    CHECK_EQ(trap_taken(), 2);
    CHECK_EQ(trap_log(0)->cause, INTERRUPT(IRQ_M_SOFT));
    CHECK_EQ(trap_log(1)->cause, INTERRUPT(IRQ_M_TIMER));
    lower(IRQ_M_SOFT);
    lower(IRQ_M_TIMER);
    section("priority: M-level MSI before delegated SSI, in U");
    csr_write(mideleg, MIP_SSIP);
    csr_write(mie, MIP_MSIP | MIP_SSIP);
    raise(IRQ_S_SOFT);
    raise(IRQ_M_SOFT);
    expect_trap();
    run_in_mode(PRV_U, spin, 1000);
    CHECK_EQ(trap_taken(), 2);
    CHECK_EQ(trap_log(0)->level, PRV_M);
    CHECK_EQ(trap_log(0)->cause, INTERRUPT(IRQ_M_SOFT));
    CHECK_EQ(trap_log(1)->level, PRV_S);
    CHECK_EQ(trap_log(1)->cause, INTERRUPT(IRQ_S_SOFT));
    lower(IRQ_M_SOFT);
    lower(IRQ_S_SOFT);
    csr_write(mideleg, 0);
    csr_write(mie, 0);

    section("vectored mtvec");
    use_vectored_mtvec(1);
    CHECK_EQ(csr_read(mtvec) & 3, 1);
    section("vectored mtvec: MSI at slot 3");
    vectored(IRQ_M_SOFT);
    section("vectored mtvec: MTI at slot 7");
    vectored(IRQ_M_TIMER);
    section("vectored mtvec: SSI at slot 1");
    vectored(IRQ_S_SOFT);
    section("vectored mtvec: an exception at the base");
    expect_trap();
    probe_ecall();
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->vector, 0);
    use_vectored_mtvec(0);

    section("vectored stvec: delegated STI at slot 5");
    use_vectored_stvec(1);
    csr_write(mideleg, MIP_STIP);
    csr_write(mie, MIP_STIP);
    csr_set(mip, MIP_STIP);
    expect_trap();
    run_in_mode(PRV_U, spin, 1000);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_S);
    CHECK_EQ(trap()->cause, INTERRUPT(IRQ_S_TIMER));
    CHECK_EQ(trap()->vector, IRQ_S_TIMER);
    csr_clear(mip, MIP_STIP);
    csr_write(mideleg, 0);
    csr_write(mie, 0);
    use_vectored_stvec(0);
}

CHECKS_FIT();
