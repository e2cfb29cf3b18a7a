/*
 * delegation: medeleg and mideleg (privileged spec: "Machine Trap Delegation Registers",
 * "Supervisor Interrupt Registers", "Supervisor Status Register").
 *
 * - An exception delegated in medeleg (U ecall, illegal instruction, breakpoint) raised in U or
 *   S traps to stvec: scause, sepc (the instruction), stval (0 for ecall and ebreak, the bits of
 *   an illegal instruction as QEMU 7.2 writes them); sstatus.SPP = the mode it came from,
 *   SPIE = the old SIE, SIE = 0; M takes no trap (its only trap is the return to M afterwards).
 * - Traps from M are never delegated (an exception never lowers the privilege), even with the
 *   medeleg bit set; an S ecall not delegated goes to M with cause 9.
 * - mideleg: SSIP, STIP, SEIP are delegable; sie/sip show only delegated bits (the rest read
 *   zero); a delegated interrupt is taken in S (scause with the interrupt bit) and never in M.
 */
#include "priv.h"

#define CSRW_CYCLE_X0 0xc0001073 /* illegal in every mode: a write to a read-only CSR */
#define EBREAK 0x00100073
#define DELEG_EXC                                                                                  \
    ((1UL << CAUSE_ILLEGAL_INSTRUCTION) | (1UL << CAUSE_BREAKPOINT) | (1UL << CAUSE_USER_ECALL))
#define DELEG_IRQ (MIP_SSIP | MIP_STIP | MIP_SEIP)

extern char priv_s_forward_ecall[], priv_return_ecall[];

static unsigned m_before;

static long lower_ecall(long unused) {
    (void)unused;
    return (long)probe_ecall();
}

/* Before running the test in `from` mode: sstatus.SIE as given, M's trap count noted. */
static void prepare(int sie) {
    if (sie)
        csr_set(sstatus, MSTATUS_SIE);
    else
        csr_clear(sstatus, MSTATUS_SIE);
    m_before = this_hart()->m_traps;
}

/* The trap went to S as delegated, and M saw only the return to M (an S ecall from the
 * framework: directly from S, or forwarded by the S handler for a U function). */
static void delegated(int from, ulong cause, ulong epc, ulong tval, int sie) {
    csr_clear(sstatus, MSTATUS_SIE);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_S);
    CHECK_EQ(trap()->cause, cause);
    if (!(cause & CAUSE_INTERRUPT))
        CHECK_EQ(trap()->epc, epc);
    CHECK_EQ(trap()->tval, tval);
    CHECK_EQ(!!(trap()->status & MSTATUS_SPP), from == PRV_S);
    CHECK_EQ(!!(trap()->status & MSTATUS_SPIE), sie);
    CHECK_EQ(trap()->status & MSTATUS_SIE, 0);
    CHECK_EQ(this_hart()->m_traps - m_before, 1);
    CHECK_EQ(this_hart()->m_last.cause, CAUSE_SUPERVISOR_ECALL);
    CHECK_EQ(this_hart()->m_last.epc,
             (ulong)(from == PRV_U ? priv_s_forward_ecall : priv_return_ecall));
}

/* Not delegated: the trap went to M. */
static void to_m(ulong cause) {
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_M);
    CHECK_EQ(trap()->cause, cause);
}

/* In S: open sstatus.SIE for a while (the delegated interrupt pending is taken here), then
 * clear sip.SSIP (S may: it is delegated) and return sip. */
static long s_open_sie(long unused) {
    (void)unused;
    csr_set(sstatus, MSTATUS_SIE);
    delay(1000);
    csr_clear(sstatus, MSTATUS_SIE);
    csr_clear(sip, MIP_SSIP);
    return (long)csr_read(sip);
}

/* A delegated S-level interrupt made pending by M is taken in S once S opens SIE. */
static void delegated_interrupt(int irq) {
    csr_write(mie, 1UL << irq);
    csr_set(mip, 1UL << irq);
    prepare(0);
    expect_trap();
    ulong sip = (ulong)run_in_mode(PRV_S, s_open_sie, 0);
    delegated(PRV_S, INTERRUPT(irq), 0, 0, 1);
    if (irq == IRQ_S_SOFT)
        CHECK_EQ(sip & MIP_SSIP, 0);
    csr_clear(mip, 1UL << irq);
    csr_write(mie, 0);
}

void test_main(void) {
    section("medeleg holds U ecall, illegal instruction, breakpoint");
    csr_write(medeleg, DELEG_EXC);
    CHECK_EQ(csr_read(medeleg) & DELEG_EXC, DELEG_EXC);

    section("U ecall delegated");
    prepare(1);
    expect_trap();
    ulong pc = (ulong)run_in_mode(PRV_U, lower_ecall, 0);
    delegated(PRV_U, CAUSE_USER_ECALL, pc, 0, 1);

    section("U illegal instruction delegated");
    prepare(0);
    expect_trap();
    exec_in(PRV_U, CSRW_CYCLE_X0);
    delegated(PRV_U, CAUSE_ILLEGAL_INSTRUCTION, exec_pc(), CSRW_CYCLE_X0, 0);

    section("U ebreak delegated");
    prepare(1);
    expect_trap();
    exec_in(PRV_U, EBREAK);
    delegated(PRV_U, CAUSE_BREAKPOINT, exec_pc(), 0, 1);

    section("S illegal instruction delegated");
    prepare(1);
    expect_trap();
    exec_in(PRV_S, CSRW_CYCLE_X0);
    delegated(PRV_S, CAUSE_ILLEGAL_INSTRUCTION, exec_pc(), CSRW_CYCLE_X0, 1);

    section("S ecall not delegated");
    expect_trap();
    run_in_mode(PRV_S, lower_ecall, 0);
    to_m(CAUSE_SUPERVISOR_ECALL);

    /* medeleg bit 11 may be writable (QEMU 7.2's is): it still cannot send M's ecall down. */
    csr_set(medeleg, 1UL << CAUSE_MACHINE_ECALL);
    section("M ecall not delegated");
    expect_trap();
    probe_ecall();
    to_m(CAUSE_MACHINE_ECALL);
    section("M illegal instruction not delegated");
    expect_trap();
    exec_in(PRV_M, CSRW_CYCLE_X0);
    to_m(CAUSE_ILLEGAL_INSTRUCTION);
    section("M ebreak not delegated");
    expect_trap();
    exec_in(PRV_M, EBREAK);
    to_m(CAUSE_BREAKPOINT);
    csr_write(medeleg, 0);

    section("sie and sip without delegation");
    csr_write(mideleg, 0);
    csr_write(mie, 0);
    csr_write(sie, DELEG_IRQ);
    CHECK_EQ(csr_read(sie), 0);
    CHECK_EQ(csr_read(mie), 0);
    csr_set(mip, MIP_SSIP);
    CHECK_EQ(csr_read(sip) & MIP_SSIP, 0);

    section("mideleg holds SSIP, STIP, SEIP");
    csr_write(mideleg, DELEG_IRQ);
    CHECK_EQ(csr_read(mideleg) & DELEG_IRQ, DELEG_IRQ);
    section("sie and sip with delegation");
    csr_write(sie, DELEG_IRQ);
    CHECK_EQ(csr_read(mie) & DELEG_IRQ, DELEG_IRQ);
    CHECK_EQ(csr_read(sip) & MIP_SSIP, MIP_SSIP);

    section("delegated SSIP is not taken in M");
    csr_set(mstatus, MSTATUS_SIE);
    expect_trap();
    csr_set(mstatus, MSTATUS_MIE);
    delay(1000);
    csr_clear(mstatus, MSTATUS_MIE | MSTATUS_SIE);
    CHECK_EQ(trap_taken(), 0);
    csr_clear(mip, MIP_SSIP);
    csr_write(mie, 0);

    section("delegated SSIP taken in S");
    delegated_interrupt(IRQ_S_SOFT);
    section("delegated STIP taken in S");
    delegated_interrupt(IRQ_S_TIMER);
    section("delegated SEIP taken in S");
    delegated_interrupt(IRQ_S_EXT);
    csr_write(mideleg, 0);
}

CHECKS_FIT();
