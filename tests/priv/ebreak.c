/*
 * ebreak: EBREAK and C.EBREAK raise a breakpoint exception (privileged spec, "Environment Call
 * and Breakpoint", "Machine Cause Register": exception code 3) in M, S and U:
 * - mcause 3, mepc = the address of the ebreak itself (not the next instruction), mtval = 0
 *   (what QEMU 7.2 writes; the spec also allows the ebreak's address), MPP = the mode it came
 *   from; the handler resumes 4 or 2 bytes on.
 * - Delegated (medeleg bit 3), an ebreak from U or S goes to S: scause 3, sepc = the ebreak,
 *   stval = 0, sstatus.SPP = the mode it came from. From M it still goes to M.
 */
#include "priv.h"

#define EBREAK 0x00100073
#define C_EBREAK 0x9002

static void breakpoint(int mode, int compressed, int level) {
    expect_trap_skip(compressed ? 2 : 4);
    if (compressed)
        exec_in16(mode, C_EBREAK);
    else
        exec_in(mode, EBREAK);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, level);
    CHECK_EQ(trap()->cause, CAUSE_BREAKPOINT);
    CHECK_EQ(trap()->epc, exec_pc());
    CHECK_EQ(trap()->tval, 0);
    if (level == PRV_M)
        CHECK_EQ((trap()->status & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT, mode);
    else
        CHECK_EQ(!!(trap()->status & MSTATUS_SPP), mode == PRV_S);
}

void test_main(void) {
    section("ebreak in M");
    breakpoint(PRV_M, 0, PRV_M);
    section("c.ebreak in M");
    breakpoint(PRV_M, 1, PRV_M);
    section("ebreak in S");
    breakpoint(PRV_S, 0, PRV_M);
    section("c.ebreak in S");
    breakpoint(PRV_S, 1, PRV_M);
    section("ebreak in U");
    breakpoint(PRV_U, 0, PRV_M);
    section("c.ebreak in U");
    breakpoint(PRV_U, 1, PRV_M);

    csr_write(medeleg, 1UL << CAUSE_BREAKPOINT);
    section("ebreak in U, delegated");
    breakpoint(PRV_U, 0, PRV_S);
    section("c.ebreak in U, delegated");
    breakpoint(PRV_U, 1, PRV_S);
    section("ebreak in S, delegated");
    breakpoint(PRV_S, 0, PRV_S);
    section("c.ebreak in S, delegated");
    breakpoint(PRV_S, 1, PRV_S);
    section("ebreak in M, delegation does not apply");
    breakpoint(PRV_M, 0, PRV_M);
    csr_write(medeleg, 0);
}

CHECKS_FIT();
