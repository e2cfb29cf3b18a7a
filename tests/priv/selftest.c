/*
 * selftest: the framework reports failures (not a privileged-architecture test). Built with
 * SELFTEST_WRONG=1, check 3 expects a wrong value: the machine must exit with 3 and print a FAIL
 * line naming it, with the later failing check 5 printed too but not changing the code. With
 * SELFTEST_WRONG=2, an ecall nobody armed for must end the run with PRIV_EXIT_UNEXPECTED.
 * Without it, every check passes. Runs in M only, so it works on every machine.
 */
#include "priv.h"

#ifndef SELFTEST_WRONG
#define SELFTEST_WRONG 0
#endif

void test_main(void) {
    section("checks that pass");
    CHECK(1 + 1 == 2);
    CHECK_EQ(csr_read(mscratch) != 0, 1);
    section("a check with a wrong expectation");
    expect_trap();
    ulong pc = probe_ecall();
    trap_taken();
    CHECK_EQ(trap()->cause, SELFTEST_WRONG == 1 ? CAUSE_USER_ECALL : CAUSE_MACHINE_ECALL);
    CHECK_EQ(trap()->epc, pc);
    CHECK(SELFTEST_WRONG != 1);
    if (SELFTEST_WRONG == 2)
        probe_ecall();
}

CHECKS_FIT();
