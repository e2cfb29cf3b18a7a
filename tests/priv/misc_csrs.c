/*
 * misc-csrs: ISA, identification and trigger CSRs (privileged spec, "Machine ISA Register
 * misa", "Machine Vendor ID Register", "Machine Architecture ID Register", "Machine
 * Implementation ID Register", "Base ISA Control in mstatus Register", "Supervisor Status
 * Register"; unprivileged "Zicsr": accessing a read-only CSR with a write is illegal; debug
 * spec "Sdtrig" for the trigger CSRs).
 *
 * - misa: MXL = 2 (64-bit), and I, M, A, F, D, C, S, U are present (rv64imafdc with S and U).
 * - mstatus.UXL = mstatus.SXL = 2 and sstatus.UXL = 2 (XLEN 64 in every mode).
 * - sstatus is a view of mstatus: SIE written through one is seen in the other; the M-only
 *   fields (MIE, MPIE, MPP, MPRV, TVM, TW, TSR) read as 0 through sstatus.
 * - mvendorid, marchid, mimpid, mhartid are readable in M; writing one (a read-only CSR) is an
 *   illegal instruction; S reading one is too (an M-level CSR).
 * - Triggers answer as QEMU 7.2 does, without trapping: tselect holds 0 and 1 and keeps a legal
 *   value (< 2) when 5 is written; tdata1 reads type 2 (address/data match); tinfo reads 0x44
 *   (types 2 and 6 supported).
 */
#include "priv.h"

static const uint32_t id_reads[4] = {
    0xf1102573, /* csrr a0, mvendorid */
    0xf1202573, /* csrr a0, marchid */
    0xf1302573, /* csrr a0, mimpid */
    0xf1402573, /* csrr a0, mhartid */
};
static const uint32_t id_writes[4] = {
    0xf1151073, /* csrw mvendorid, a0 */
    0xf1251073, /* csrw marchid, a0 */
    0xf1351073, /* csrw mimpid, a0 */
    0xf1451073, /* csrw mhartid, a0 */
};
static const char *const id_names[4] = {"mvendorid", "marchid", "mimpid", "mhartid"};

/* Names the checks that follow "<a><b>" (buf outlives them). */
static void name_checks(char *buf, const char *a, const char *b) {
    char *p = buf;
    while (*a)
        *p++ = *a++;
    while (*b)
        *p++ = *b++;
    *p = 0;
    section(buf);
}

void test_main(void) {
    static char name[64];
    ulong misa = csr_read(misa);
    section("misa.MXL is 2 (RV64)");
    CHECK_EQ(misa >> 62, 2);
    static const char extensions[] = "IMAFDCSU";
    for (const char *e = extensions; *e; e++) {
        char letter[2] = {*e, 0};
        name_checks(name, "misa has ", letter);
        CHECK(misa & (1UL << (*e - 'A')));
    }

    section("mstatus.UXL and SXL are 2");
    ulong ms = csr_read(mstatus);
    CHECK_EQ((ms & MSTATUS_UXL) >> 32, 2);
    CHECK_EQ((ms & MSTATUS_SXL) >> 34, 2);
    section("sstatus.UXL is 2");
    CHECK_EQ((csr_read(sstatus) & MSTATUS_UXL) >> 32, 2);

    section("sstatus.SIE is mstatus.SIE");
    csr_set(sstatus, MSTATUS_SIE);
    CHECK(csr_read(mstatus) & MSTATUS_SIE);
    csr_clear(mstatus, MSTATUS_SIE);
    CHECK_EQ(csr_read(sstatus) & MSTATUS_SIE, 0);
    section("M-only fields read 0 in sstatus");
    ulong m_only = MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM |
                   MSTATUS_TW | MSTATUS_TSR;
    csr_set(mstatus, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TW);
    ulong ss = csr_read(sstatus);
    csr_clear(mstatus, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TW);
    CHECK_EQ(ss & m_only, 0);

    for (int i = 0; i < 4; i++) {
        name_checks(name, id_names[i], " read in M");
        expect_trap();
        exec_in(PRV_M, id_reads[i]);
        CHECK_EQ(trap_taken(), 0);
        name_checks(name, id_names[i], " written in M");
        expect_trap();
        exec_in(PRV_M, id_writes[i]);
        CHECK_EQ(trap_taken(), 1);
        CHECK_EQ(trap()->cause, CAUSE_ILLEGAL_INSTRUCTION);
        name_checks(name, id_names[i], " read in S");
        expect_trap();
        exec_in(PRV_S, id_reads[i]);
        CHECK_EQ(trap_taken(), 1);
        CHECK_EQ(trap()->cause, CAUSE_ILLEGAL_INSTRUCTION);
    }

    section("trigger CSRs: tselect holds 0 and 1");
    expect_trap();
    csr_write(tselect, 1);
    ulong t1 = csr_read(tselect);
    csr_write(tselect, 0);
    ulong t0 = csr_read(tselect);
    CHECK_EQ(t1, 1);
    CHECK_EQ(t0, 0);
    section("trigger CSRs: tselect keeps a legal value");
    csr_write(tselect, 5);
    CHECK(csr_read(tselect) < 2);
    csr_write(tselect, 0);
    section("trigger CSRs: tdata1 is type 2, tinfo 0x44");
    CHECK_EQ(csr_read(tdata1) >> 60, 2);
    CHECK_EQ(csr_read(0x7a4), 0x44); /* tinfo */
    section("trigger CSRs do not trap");
    CHECK_EQ(trap_taken(), 0);
}

CHECKS_FIT();
