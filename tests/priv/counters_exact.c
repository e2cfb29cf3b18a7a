/*
 * counters-exact: instret counts retired instructions exactly (unprivileged spec "Zicntr":
 * instret counts the instructions retired by this hart; privileged spec: an explicit write to
 * minstret is the value the next instruction reads, and mcountinhibit.IR stops minstret).
 *
 * - csrr minstret; N nops; csrr minstret: the difference is N + 1 (the first read retires too).
 * - Around a counted loop (li, then K times addi + bnez): 2K + 2.
 * - csrw minstret, X; csrr: X. With two nops between: X + 2.
 * - The instret alias counts the same; so does U (counteren set) running csrr, 5 nops, csrr: 6.
 * - mcountinhibit.IR = 1: minstret does not move over csrr, 10 nops, csrr.
 *
 * Emulator only: QEMU serves instret from the host clock unless run with -icount (README.md).
 */
#include "priv.h"

static ulong nops(void) {
    ulong a, b;
    __asm__ volatile("csrr %0, minstret\n"
                     ".rept 10\n nop\n .endr\n"
                     "csrr %1, minstret"
                     : "=&r"(a), "=r"(b)::"memory");
    return b - a;
}

void test_main(void) {
    ulong a, b;
    section("csrr minstret, 10 nops, csrr minstret");
    CHECK_EQ(nops(), 11);

    section("instret alias: csrr instret, 3 nops, csrr instret");
    __asm__ volatile("csrr %0, instret\n"
                     "nop\n nop\n nop\n"
                     "csrr %1, instret"
                     : "=&r"(a), "=r"(b)::"memory");
    CHECK_EQ(b - a, 4);

    section("a counted loop of 100");
    __asm__ volatile("csrr %0, minstret\n"
                     "li t1, 100\n"
                     "1: addi t1, t1, -1\n"
                     "bnez t1, 1b\n"
                     "csrr %1, minstret"
                     : "=&r"(a), "=r"(b)::"t1", "memory");
    CHECK_EQ(b - a, 202);

    section("csrw minstret then csrr");
    __asm__ volatile("csrw minstret, %1\n"
                     "csrr %0, minstret"
                     : "=r"(a)
                     : "r"(1000UL)
                     : "memory");
    CHECK_EQ(a, 1000);
    section("csrw minstret, 2 nops, csrr");
    __asm__ volatile("csrw minstret, %1\n"
                     "nop\n nop\n"
                     "csrr %0, minstret"
                     : "=r"(a)
                     : "r"(5000UL)
                     : "memory");
    CHECK_EQ(a, 5002);

    section("U: csrr instret, 5 nops, csrr instret");
    static const uint32_t u_code[] = {
        0xc0202573,                                                 /* csrr a0, instret */
        0x00000013, 0x00000013, 0x00000013, 0x00000013, 0x00000013, /* nop x 5 */
        0xc02025f3,                                                 /* csrr a1, instret */
        0x40a58533,                                                 /* sub a0, a1, a0 */
    };
    csr_write(mcounteren, 7);
    csr_write(scounteren, 7);
    expect_trap();
    long d = exec_words(PRV_U, u_code, sizeof u_code / sizeof *u_code);
    CHECK_EQ(trap_taken(), 0);
    CHECK_EQ(d, 6);
    csr_write(mcounteren, 0);
    csr_write(scounteren, 0);

    section("mcountinhibit.IR stops minstret");
    csr_set(mcountinhibit, 4);
    ulong frozen = nops();
    csr_clear(mcountinhibit, 4);
    CHECK_EQ(frozen, 0);
    section("minstret counts again after mcountinhibit.IR is cleared");
    CHECK_EQ(nops(), 11);
}

CHECKS_FIT();
