/*
 * counters: cycle, time, instret and their machine aliases (unprivileged spec "Zicntr";
 * privileged spec "Machine Counter/Timer CSRs", "Machine Counter-Enable Register",
 * "Supervisor Counter-Enable Register").
 *
 * - cycle/mcycle and instret/minstret are the same counters (interleaved reads are ordered);
 *   time is CLINT mtime (an mtime read before <= rdtime <= one after).
 * - Each is monotonic over repeated reads; instret strictly increases (reads retire).
 * - Writes to mcycle and minstret take effect: later reads are >= the value written and not
 *   far past it (cycle and instret show it too).
 * - mcounteren bits CY, TM, IR (0, 1, 2) let S read cycle, time, instret: with the bit clear the
 *   read is an illegal instruction (mtval = its bits). U needs the mcounteren bit and the
 *   scounteren bit.
 *
 * Exact instret counts are counters_exact.c (QEMU's instret is not exact without -icount).
 */
#include "priv.h"

static const uint32_t read_counter[3] = {
    0xc0002573, /* csrr a0, cycle */
    0xc0102573, /* csrr a0, time */
    0xc0202573, /* csrr a0, instret */
};
static const char *const counter_name[3] = {"cycle", "time", "instret"};

static char where[80];

static void describe(int mode, int counter, ulong mcounteren, ulong scounteren) {
    char *p = where;
    const char *parts[] = {mode == PRV_S ? "S reads " : "U reads ", counter_name[counter],
                           ", mcounteren ", ", scounteren "};
    ulong values[] = {0, 0, mcounteren, scounteren};
    for (int i = 0; i < 4; i++) {
        for (const char *s = parts[i]; *s;)
            *p++ = *s++;
        if (i >= 2)
            *p++ = (char)('0' + values[i]);
    }
    *p = 0;
    section(where);
}

/* One read of `counter` in `mode`: legal iff the counter-enable bits allow it. */
static void gated(int mode, int counter, ulong mcounteren, ulong scounteren) {
    int allowed = (mcounteren >> counter) & 1;
    if (mode == PRV_U)
        allowed &= (int)(scounteren >> counter) & 1;
    describe(mode, counter, mcounteren, scounteren);
    expect_trap();
    long v = exec_in(mode, read_counter[counter]);
    if (allowed) {
        CHECK_EQ(trap_taken(), 0);
        CHECK(v != (long)TRAP_MARKER);
    } else {
        CHECK_EQ(trap_taken(), 1);
        CHECK_EQ(trap()->cause, CAUSE_ILLEGAL_INSTRUCTION);
        CHECK_EQ(trap()->tval, read_counter[counter]);
    }
}

void test_main(void) {
    section("cycle and mcycle are one counter");
    ulong a = csr_read(cycle), b = csr_read(mcycle), c = csr_read(cycle);
    CHECK(a <= b && b <= c);
    section("instret and minstret are one counter");
    a = csr_read(instret), b = csr_read(minstret), c = csr_read(instret);
    CHECK(a < b && b < c);
    section("time is CLINT mtime");
    a = mtime(), b = csr_read(time), c = mtime();
    CHECK(a <= b && b <= c);

    section("monotonic over 100 reads");
    ulong cy = csr_read(cycle), tm = csr_read(time), ir = csr_read(instret);
    int ordered = 1;
    for (int i = 0; i < 100; i++) {
        ulong cy2 = csr_read(cycle), tm2 = csr_read(time), ir2 = csr_read(instret);
        ordered &= cy2 >= cy && tm2 >= tm && ir2 > ir;
        cy = cy2, tm = tm2, ir = ir2;
    }
    CHECK(ordered);

    section("a write to mcycle takes effect");
    ulong set = csr_read(mcycle) + (1UL << 40);
    csr_write(mcycle, set);
    a = csr_read(mcycle), b = csr_read(cycle);
    CHECK(a >= set && a - set < (1UL << 32));
    CHECK(b >= a);
    section("a write to minstret takes effect");
    set = csr_read(minstret) + (1UL << 40);
    csr_write(minstret, set);
    a = csr_read(minstret), b = csr_read(instret);
    CHECK(a >= set && a - set < (1UL << 32));
    CHECK(b > a);

    static const ulong enables[] = {0, 7, 1, 2, 4};
    for (unsigned m = 0; m < sizeof enables / sizeof *enables; m++) {
        csr_write(mcounteren, enables[m]);
        for (ulong s = 0; s <= 7; s += 7) {
            csr_write(scounteren, s);
            for (int counter = 0; counter < 3; counter++) {
                gated(PRV_S, counter, enables[m], s);
                gated(PRV_U, counter, enables[m], s);
            }
        }
    }
    section("mcounteren and scounteren hold CY, TM, IR");
    csr_write(mcounteren, 7);
    csr_write(scounteren, 7);
    CHECK_EQ(csr_read(mcounteren) & 7, 7);
    CHECK_EQ(csr_read(scounteren) & 7, 7);
    csr_write(mcounteren, 0);
    csr_write(scounteren, 0);
}

CHECKS_FIT();
