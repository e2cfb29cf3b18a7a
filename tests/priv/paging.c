/*
 * paging: Sv39 (SATP_MODE=8) and Sv48 (SATP_MODE=9) translation for S and U (privileged spec,
 * "Supervisor Address Translation and Protection Register", "Sv39", "Sv48", "Virtual Address
 * Translation Process", "Memory Privilege in mstatus", "Supervisor Memory-Management Fence").
 *
 * Map: gigapages for MMIO (identity, RW), RAM (identity, RWX: the S code, stacks and handler)
 * and a U alias of RAM at +1 GiB (where U code runs); 4 KiB pages at 0x40000000 pointing
 * elsewhere in RAM (virtual != physical), each with its own permissions.
 *
 * - satp reads back the mode written. Through a non-identity 4 KiB mapping S fetches, loads and
 *   stores (M sees the store at the physical page).
 * - Faults: fetch 12, load 13, store 15; mtval = the faulting virtual address, mepc = it for a
 *   fetch: store to R-only, fetch from non-X, load from X-only (allowed with mstatus.MXR),
 *   invalid PTE, W without R (reserved), misaligned gigapage, Sv39 address not sign-extended.
 * - U bit: U may use U pages only; S may load/store U pages only with mstatus.SUM and never
 *   fetches from them.
 * - A/D: QEMU 7.2 sets A on access and D on store in the PTE itself (the spec also allows a
 *   page fault instead); that is what is checked.
 * - A PTE changed in memory is used after sfence.vma.
 * - A delegated page fault (medeleg bit 13) goes to S with stval = the address.
 * - Sv48: a fourth level; an address above 512 GiB maps.
 * - Code mapped at virtual address 0 runs (the first 2 MiB are 4 KiB pages: page 0 is the code,
 *   the rest identity, as the MMIO megapages above them).
 */
#include "priv.h"

#ifndef SATP_MODE
#define SATP_MODE 8
#endif

#define PTE_V 0x01UL
#define PTE_R 0x02UL
#define PTE_W 0x04UL
#define PTE_X 0x08UL
#define PTE_U 0x10UL
#define PTE_A 0x40UL
#define PTE_D 0x80UL
#define PTE(pa, flags) ((((ulong)(pa)) >> 12) << 10 | (flags))
#define TABLE(pa) PTE(pa, PTE_V)
#define RWXAD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

#define USER_OFFSET 0x40000000UL      /* VA 0xc0000000 + x: the U alias of RAM 0x80000000 + x */
#define TEST_VA 0x40000000UL          /* the 4 KiB test pages */
#define BAD_GIGAPAGE_VA 0x100000000UL /* gigapage 4: a leaf whose PPN is not 1 GiB aligned */
#define HIGH_VA (1UL << 39)           /* Sv48: maps RAM; Sv39: not sign-extended from bit 38 */
#define STORED 0x5106ed5106ed5106UL

enum page { P_CODE, P_DATA, P_RO, P_NOX, P_XO, P_USER, P_INVALID, P_NOA, P_REMAP, P_WO };

#define PAGE __attribute__((aligned(4096)))
static ulong root[512] PAGE, l2[512] PAGE, l2_high[512] PAGE, l1[512] PAGE, l0[512] PAGE;
static ulong l1_low[512] PAGE, l0_low[512] PAGE;
static uint32_t code_page[1024] PAGE, user_page[1024] PAGE;
static ulong data_page[512] PAGE, data_page2[512] PAGE;

static ulong va(enum page p) {
    return TEST_VA + 4096UL * p;
}

static void build_tables(void) {
    ulong *giga = root; /* the table whose entries map 1 GiB each */
    if (SATP_MODE == 9) {
        giga = l2;
        root[0] = TABLE(l2);
        root[HIGH_VA >> 39] = TABLE(l2_high);
        l2_high[0] = PTE(RAM_BASE, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    }
    giga[0] = TABLE(l1_low); /* MMIO identity, but virtual page 0 holds code */
    l1_low[0] = TABLE(l0_low);
    for (ulong i = 1; i < 512; i++) {
        l1_low[i] = PTE(i << 21, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
        l0_low[i] = PTE(i << 12, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    }
    l0_low[0] = PTE(code_page, PTE_V | PTE_R | PTE_X | PTE_A);
    giga[1] = TABLE(l1);
    giga[2] = PTE(RAM_BASE, RWXAD);
    giga[3] = PTE(RAM_BASE, RWXAD | PTE_U);
    giga[4] = PTE(RAM_BASE + 0x1000, PTE_V | PTE_R | PTE_A);
    l1[0] = TABLE(l0);
    l0[P_CODE] = PTE(code_page, PTE_V | PTE_R | PTE_X | PTE_A);
    l0[P_DATA] = PTE(data_page, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    l0[P_RO] = PTE(data_page, PTE_V | PTE_R | PTE_A);
    l0[P_NOX] = PTE(code_page, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    l0[P_XO] = PTE(code_page, PTE_V | PTE_X | PTE_A);
    l0[P_USER] = PTE(user_page, RWXAD | PTE_U);
    l0[P_INVALID] = PTE(data_page, PTE_R | PTE_W | PTE_A | PTE_D);
    l0[P_NOA] = PTE(data_page, PTE_V | PTE_R | PTE_W);
    l0[P_REMAP] = PTE(data_page, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    l0[P_WO] = PTE(data_page, PTE_V | PTE_W | PTE_A | PTE_D);
    /* li a0, 0x5a; ret -- and li a0, 0x77; ret on the U page, whose data is at +2048. */
    code_page[0] = 0x05a00513, code_page[1] = 0x00008067;
    user_page[0] = 0x07700513, user_page[1] = 0x00008067;
    user_page[512] = 0x600d;
    fence_i();
}

enum op { LOAD, STORE, FETCH };
static long op_load(long a) {
    return (long)probe_load((const void *)a);
}
static long op_store(long a) {
    probe_store((void *)a, STORED);
    return 0;
}
static long op_fetch(long a) {
    return (long)probe_fetch((const void *)a);
}
static long op_sfence_load(long a) {
    sfence_vma();
    return op_load(a);
}
static long (*const ops[])(long) = {op_load, op_store, op_fetch};
static const ulong fault_cause[] = {CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_PAGE_FAULT,
                                    CAUSE_FETCH_PAGE_FAULT};

/* One access by `mode` (U runs from the U alias); a fault returns to the test's M code. */
static long access(int mode, enum op op, ulong address) {
    if (op == FETCH)
        expect_trap_return();
    else
        expect_trap();
    return run_in_mode_at(mode, ops[op], (long)address, mode == PRV_U ? USER_OFFSET : 0);
}

static long allowed(int mode, enum op op, ulong address) {
    long v = access(mode, op, address);
    CHECK_EQ(trap_taken(), 0);
    return v;
}

static void faults(int mode, enum op op, ulong address) {
    access(mode, op, address);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_M);
    CHECK_EQ(trap()->cause, fault_cause[op]);
    CHECK_EQ(trap()->tval, address);
    if (op == FETCH)
        CHECK_EQ(trap()->epc, address);
}

void test_main(void) {
    build_tables();
    ulong satp = (ulong)SATP_MODE << 60 | (ulong)root >> 12;
    section("satp holds the mode");
    csr_write(satp, satp);
    sfence_vma();
    CHECK_EQ(csr_read(satp), satp);

    section("S fetch at virtual address 0");
    CHECK_EQ(allowed(PRV_S, FETCH, 0), 0x5a);
    section("S fetch through a non-identity mapping");
    CHECK_EQ(allowed(PRV_S, FETCH, va(P_CODE)), 0x5a);
    section("S store through a non-identity mapping");
    allowed(PRV_S, STORE, va(P_DATA));
    CHECK_EQ(data_page[0], STORED);
    section("S load through a non-identity mapping");
    data_page[1] = 0x1234;
    CHECK_EQ(allowed(PRV_S, LOAD, va(P_DATA) + 8), 0x1234);

    section("S store to a read-only page");
    faults(PRV_S, STORE, va(P_RO));
    section("S fetch from a page without X");
    faults(PRV_S, FETCH, va(P_NOX));
    section("S load from an execute-only page");
    faults(PRV_S, LOAD, va(P_XO));
    section("S load from an execute-only page with MXR");
    csr_set(mstatus, MSTATUS_MXR);
    CHECK_EQ(allowed(PRV_S, LOAD, va(P_XO)), 0x0000806705a00513UL);
    csr_clear(mstatus, MSTATUS_MXR);

    section("S load from a U page without SUM");
    faults(PRV_S, LOAD, va(P_USER) + 2048);
    section("S store to a U page without SUM");
    faults(PRV_S, STORE, va(P_USER) + 2048);
    csr_set(mstatus, MSTATUS_SUM);
    section("S load from a U page with SUM");
    CHECK_EQ(allowed(PRV_S, LOAD, va(P_USER) + 2048), 0x600d);
    section("S fetch from a U page, even with SUM");
    faults(PRV_S, FETCH, va(P_USER));
    csr_clear(mstatus, MSTATUS_SUM);

    section("U fetch from a U page");
    CHECK_EQ(allowed(PRV_U, FETCH, va(P_USER)), 0x77);
    section("U load from a U page");
    CHECK_EQ(allowed(PRV_U, LOAD, va(P_USER) + 2048), 0x600d);
    section("U load from an S page");
    faults(PRV_U, LOAD, va(P_DATA));
    section("U store to an S page");
    faults(PRV_U, STORE, va(P_DATA));
    section("U fetch from an S page");
    faults(PRV_U, FETCH, va(P_CODE));

    section("load through an invalid PTE");
    faults(PRV_S, LOAD, va(P_INVALID));
    section("load through a PTE with W but not R (reserved)");
    faults(PRV_S, LOAD, va(P_WO));
    section("load through a misaligned gigapage");
    faults(PRV_S, LOAD, BAD_GIGAPAGE_VA);
#if SATP_MODE == 8
    section("Sv39: load from an address not sign-extended from bit 38");
    faults(PRV_S, LOAD, HIGH_VA);
#else
    section("Sv48: load above 512 GiB");
    data_page[3] = 0x48;
    CHECK_EQ(allowed(PRV_S, LOAD, HIGH_VA + ((ulong)&data_page[3] - RAM_BASE)), 0x48);
#endif

    section("A set by hardware on a load (QEMU 7.2), D still clear");
    allowed(PRV_S, LOAD, va(P_NOA));
    CHECK(l0[P_NOA] & PTE_A);
    CHECK_EQ(l0[P_NOA] & PTE_D, 0);
    section("D set by hardware on a store (QEMU 7.2)");
    allowed(PRV_S, STORE, va(P_NOA));
    CHECK(l0[P_NOA] & PTE_D);

    section("sfence.vma makes a changed PTE visible");
    data_page[2] = 111, data_page2[2] = 222;
    CHECK_EQ(allowed(PRV_S, LOAD, va(P_REMAP) + 16), 111);
    l0[P_REMAP] = PTE(data_page2, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    expect_trap();
    CHECK_EQ(run_in_mode(PRV_S, op_sfence_load, (long)va(P_REMAP) + 16), 222);
    CHECK_EQ(trap_taken(), 0);

    section("a delegated load page fault goes to S");
    csr_write(medeleg, 1UL << CAUSE_LOAD_PAGE_FAULT);
    access(PRV_S, LOAD, va(P_INVALID));
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_S);
    CHECK_EQ(trap()->cause, CAUSE_LOAD_PAGE_FAULT);
    CHECK_EQ(trap()->tval, va(P_INVALID));
    csr_write(medeleg, 0);

    csr_write(satp, 0);
    sfence_vma();
}

CHECKS_FIT();
