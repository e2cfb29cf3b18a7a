/*
 * ipi: inter-processor interrupts through the CLINT (the msip word of hart h drives hart h's
 * mip.MSIP; privileged spec "Machine Interrupt Registers": MSIP is written by accesses to
 * memory-mapped control registers, which remote harts use to provide machine-level IPIs).
 *
 * Every hart, with mie.MSIE and mstatus.MIE set, writes the msip of the next hart
 * ((h + 1) mod n) and takes exactly one interrupt (mcause = interrupt | 3) from the previous;
 * mip.MSIP stays set until the receiver clears its own msip. One hart interrupts itself.
 * Runs on every hart (PRIV_ALL_HARTS=1).
 */
#include "priv.h"

void test_main(void) {
    int me = hart_id(), next = (me + 1) % priv_nharts;
    section("every hart ready");
    csr_write(mie, MIP_MSIP);
    expect_trap();
    csr_set(mstatus, MSTATUS_MIE);
    CHECK(priv_barrier());

    *clint_msip(next) = 1;
    wait_for_trap(MTIME_HZ);
    csr_clear(mstatus, MSTATUS_MIE);
    section("one IPI from the previous hart");
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_M);
    CHECK_EQ(trap()->cause, INTERRUPT(IRQ_M_SOFT));
    section("MSIP pending until the receiver clears its msip");
    CHECK(csr_read(mip) & MIP_MSIP);
    *clint_msip(me) = 0;
    CHECK_EQ(csr_read(mip) & MIP_MSIP, 0);
    csr_write(mie, 0);
    section("every hart done");
    CHECK(priv_barrier());
}

CHECKS_FIT();
