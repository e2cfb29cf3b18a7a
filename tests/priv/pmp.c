/*
 * pmp: physical memory protection (privileged spec, "Physical Memory Protection").
 *
 * - QEMU virt 7.2 has 16 entries: pmpaddr0..15 hold what is written. pmpaddr16 is either
 *   absent (QEMU 7.2: illegal instruction) or read-only zero (the spec's wording), and pmpcfg1
 *   does not exist on RV64 (illegal instruction).
 * - With PMP implemented and no entry matching, S and U accesses fail and M's succeed (checked
 *   with mstatus.MPRV = 1, MPP = S: QEMU 7.2 even refuses an mret into S when no entry is
 *   active, an illegal instruction the spec does not have).
 * - A TOR entry allowing R only (pmpaddr0 = its base, pmpaddr1 = its top): S loads succeed; S
 *   stores fault (cause 7), fetches fault (cause 1, mepc = the address); mtval = the address;
 *   the top is exclusive; M is unaffected.
 * - A NAPOT 4 KiB entry allowing nothing: S and U loads fault (5), stores (7); M is unaffected.
 * - Matching is by priority: the lowest-numbered matching entry decides, whatever entry 15 (all
 *   memory, RWX) says.
 * - A locked entry (L) applies to M too, and ignores writes to its pmpcfg and pmpaddr.
 */
#include "priv.h"

#define CFG_R 0x01UL
#define CFG_W 0x02UL
#define CFG_X 0x04UL
#define CFG_TOR 0x08UL
#define CFG_NAPOT 0x18UL
#define CFG_L 0x80UL
#define NAPOT(base, size) ((ulong)(base) >> 2 | (((ulong)(size) >> 3) - 1))
#define CSRW_A0_PMPADDR16 0x3c051073 /* csrw 0x3c0, a0 */
#define CSRR_A0_PMPADDR16 0x3c002573
#define CSRR_A0_PMPCFG1 0x3a102573

/* pages[0..1]: the TOR region; pages[2]: just above it; pages[3]: NAPOT; pages[4]: locked. */
static uint32_t pages[5][1024] __attribute__((aligned(4096)));

#define PMPADDR_CASE(n)                                                                            \
    case n:                                                                                        \
        csr_write(pmpaddr##n, v);                                                                  \
        return csr_read(pmpaddr##n);
static ulong pmpaddr_write_read(int i, ulong v) {
    switch (i) {
        PMPADDR_CASE(0)
        PMPADDR_CASE(1)
        PMPADDR_CASE(2)
        PMPADDR_CASE(3)
        PMPADDR_CASE(4)
        PMPADDR_CASE(5)
        PMPADDR_CASE(6)
        PMPADDR_CASE(7)
        PMPADDR_CASE(8)
        PMPADDR_CASE(9)
        PMPADDR_CASE(10)
        PMPADDR_CASE(11)
        PMPADDR_CASE(12)
        PMPADDR_CASE(13)
        PMPADDR_CASE(14)
        PMPADDR_CASE(15)
    }
    return 0;
}

static long op_load(long a) {
    return (long)probe_load32((const void *)a);
}
static long op_store(long a) {
    probe_store((void *)a, 0x5707e);
    return 0;
}
static long op_fetch(long a) {
    return (long)probe_fetch((const void *)a);
}

/* The test layout: entries 0-1 TOR (R), 2 NAPOT (none), 15 everything (RWX), others off. */
static void layout(void) {
    csr_write(pmpcfg0, 0);
    csr_write(pmpcfg2, 0);
    csr_write(pmpaddr0, (ulong)pages[0] >> 2);
    csr_write(pmpaddr1, (ulong)pages[2] >> 2);
    csr_write(pmpaddr2, NAPOT(pages[3], 4096));
    csr_write(pmpaddr15, ~0UL);
    csr_write(pmpcfg0, (CFG_TOR | CFG_R) << 8 | CFG_NAPOT << 16);
    csr_write(pmpcfg2, (CFG_NAPOT | CFG_R | CFG_W | CFG_X) << 56);
    sfence_vma();
}

static void access_faults(int mode, long (*op)(long), void *address, ulong cause) {
    if (op == op_fetch)
        expect_trap_return();
    else
        expect_trap();
    if (mode == PRV_M)
        op((long)address);
    else
        run_in_mode(mode, op, (long)address);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, cause);
    CHECK_EQ(trap()->tval, (ulong)address);
    if (op == op_fetch)
        CHECK_EQ(trap()->epc, (ulong)address);
}

static long access_allowed(int mode, long (*op)(long), void *address) {
    expect_trap();
    long v = mode == PRV_M ? op((long)address) : run_in_mode(mode, op, (long)address);
    CHECK_EQ(trap_taken(), 0);
    return v;
}

void test_main(void) {
    pages[0][0] = 0x05a00513, pages[0][1] = 0x00008067; /* li a0, 0x5a; ret */
    pages[0][2] = 0x70;
    pages[3][0] = 0x73;
    fence_i();

    section("pmpaddr0..15 hold what is written");
    int held = 0;
    for (int i = 0; i < 16; i++)
        held += pmpaddr_write_read(i, 0x1000UL + (ulong)i) == 0x1000UL + (ulong)i;
    CHECK_EQ(held, 16);
    section("no pmpaddr16 beyond the 16 entries");
    expect_trap();
    exec_in(PRV_M, CSRW_A0_PMPADDR16);
    long v = exec_in(PRV_M, CSRR_A0_PMPADDR16);
    CHECK(trap_taken() == 2 || v == 0);
    section("pmpcfg1 does not exist on RV64");
    expect_trap();
    exec_in(PRV_M, CSRR_A0_PMPCFG1);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, CAUSE_ILLEGAL_INSTRUCTION);

    section("no entry active: M load succeeds");
    csr_write(pmpcfg0, 0);
    csr_write(pmpcfg2, 0);
    sfence_vma();
    CHECK_EQ(access_allowed(PRV_M, op_load, &pages[2][0]), 0);
    section("no entry active: S load (MPRV) fails");
    csr_clear(mstatus, MSTATUS_MPP);
    csr_set(mstatus, (ulong)PRV_S << MSTATUS_MPP_SHIFT);
    expect_trap();
    ulong got = 7;
    __asm__ volatile(".option push\n.option norvc\n"
                     "csrs mstatus, %2\n"
                     "lwu %0, 0(%1)\n"
                     "csrc mstatus, %2\n"
                     ".option pop"
                     : "+r"(got)
                     : "r"(&pages[2][0]), "r"(MSTATUS_MPRV)
                     : "memory");
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, CAUSE_LOAD_ACCESS);
    CHECK_EQ(trap()->tval, (ulong)&pages[2][0]);

    layout();
    section("TOR, R only: S load");
    CHECK_EQ(access_allowed(PRV_S, op_load, &pages[1][8]), 0);
    CHECK_EQ(access_allowed(PRV_S, op_load, &pages[0][2]), 0x70);
    section("TOR, R only: S store");
    access_faults(PRV_S, op_store, &pages[1][4], CAUSE_STORE_ACCESS);
    section("TOR, R only: S fetch");
    access_faults(PRV_S, op_fetch, &pages[0][0], CAUSE_FETCH_ACCESS);
    section("TOR, R only: U store");
    access_faults(PRV_U, op_store, &pages[0][6], CAUSE_STORE_ACCESS);
    section("TOR top is exclusive: S store just above");
    access_allowed(PRV_S, op_store, &pages[2][0]);
    section("TOR, R only: M store and fetch");
    access_allowed(PRV_M, op_store, &pages[1][4]);
    CHECK_EQ(access_allowed(PRV_M, op_fetch, &pages[0][0]), 0x5a);
    pages[0][0] = 0x05a00513, pages[0][1] = 0x00008067;
    fence_i();

    section("NAPOT, no permission: S load");
    access_faults(PRV_S, op_load, &pages[3][0], CAUSE_LOAD_ACCESS);
    section("NAPOT, no permission: S store");
    access_faults(PRV_S, op_store, &pages[3][1023], CAUSE_STORE_ACCESS);
    section("NAPOT, no permission: U load");
    access_faults(PRV_U, op_load, &pages[3][512], CAUSE_LOAD_ACCESS);
    section("NAPOT, no permission: M load and store");
    CHECK_EQ(access_allowed(PRV_M, op_load, &pages[3][0]), 0x73);
    access_allowed(PRV_M, op_store, &pages[3][2]);

    section("locked NAPOT entry: M load");
    pages[4][0] = 0x4c;
    csr_write(pmpaddr3, NAPOT(pages[4], 4096));
    csr_set(pmpcfg0, (CFG_L | CFG_NAPOT) << 24);
    sfence_vma();
    access_faults(PRV_M, op_load, &pages[4][0], CAUSE_LOAD_ACCESS);
    section("locked NAPOT entry: M store");
    access_faults(PRV_M, op_store, &pages[4][8], CAUSE_STORE_ACCESS);
    section("locked entry ignores writes");
    csr_set(pmpcfg0, (CFG_R | CFG_W | CFG_X) << 24);
    csr_clear(pmpcfg0, CFG_L << 24);
    csr_write(pmpaddr3, 0);
    CHECK_EQ((csr_read(pmpcfg0) >> 24) & 0xff, CFG_L | CFG_NAPOT);
    CHECK_EQ(csr_read(pmpaddr3), NAPOT(pages[4], 4096));
    access_faults(PRV_M, op_load, &pages[4][0], CAUSE_LOAD_ACCESS);
}

CHECKS_FIT();
