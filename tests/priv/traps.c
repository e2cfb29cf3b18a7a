/*
 * traps: trap entry and return between M, S and U (privileged spec: "Machine Status Register",
 * "Machine Trap Value Register", "Environment Call and Breakpoint", "Trap-Return Instructions",
 * "Supervisor Status Register", "Virtualization Support in mstatus").
 *
 * - mret enters the mode in MPP: an ecall from there traps to M with mcause 8 (U), 9 (S) or
 *   11 (M), mepc = the ecall's address, mtval = 0, MPP = the mode it came from.
 * - Trap entry sets MPIE = MIE, MIE = 0, MPP = the previous mode; mret sets MIE = MPIE,
 *   MPIE = 1, MPP = U. (Not tested: priv 1.12's "mret to a lower mode clears MPRV"; QEMU 7.2
 *   leaves MPRV set, as priv 1.11 did.)
 * - sret sets SIE = SPIE, SPIE = 1, SPP = U and returns to the mode SPP named (S or U).
 * - Illegal instructions trap with mcause 2, mepc = the instruction, mtval = its bits (QEMU 7.2
 *   writes them; 16 bits for a compressed one): a write to a read-only CSR from U; M CSRs from
 *   S; S CSRs from U; mret from S or U; sret from U, or from S with mstatus.TSR; satp and
 *   sfence.vma from S with mstatus.TVM. The same CSRs are legal where the spec allows them.
 *
 * Built twice: traps (hart 0) and traps-smp (every hart at once, PRIV_ALL_HARTS=1).
 */
#include "priv.h"

#define CSRW_CYCLE_X0 0xc0001073   /* csrrw x0, cycle, x0: a read-only CSR */
#define CSRR_T0_MSTATUS 0x300022f3 /* csrr t0, mstatus */
#define CSRR_T0_MSCRATCH 0x340022f3
#define CSRR_T0_SSTATUS 0x100022f3
#define CSRR_T0_SSCRATCH 0x140022f3
#define CSRR_T0_SATP 0x180022f3
#define CSRR_A0_SSTATUS 0x10002573
#define CSRR_A0_SATP 0x18002573
#define CSRR_A0_SSCRATCH 0x14002573
#define MRET 0x30200073
#define SRET 0x10200073
#define SFENCE_VMA 0x12000073
#define C_LWSP_X0 0x4002 /* c.lwsp with rd = x0: reserved */

static ulong mpp(ulong status) {
    return (status & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT;
}

static long lower_ecall(long unused) {
    (void)unused;
    return (long)probe_ecall();
}

/* An ecall from `mode` traps to M with `cause`, mepc at it, mtval 0, MPP = mode. */
static void ecall_from(int mode, ulong cause) {
    expect_trap();
    ulong pc = mode == PRV_M ? probe_ecall() : (ulong)run_in_mode(mode, lower_ecall, 0);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_M);
    CHECK_EQ(trap()->cause, cause);
    CHECK_EQ(trap()->epc, pc);
    CHECK_EQ(trap()->tval, 0);
    CHECK_EQ(mpp(trap()->status), mode);
}

/* `word` run in `mode` is an illegal instruction: mcause 2, mepc at it, mtval = its bits. */
static void illegal(int mode, uint32_t word) {
    expect_trap();
    exec_in(mode, word);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->level, PRV_M);
    CHECK_EQ(trap()->cause, CAUSE_ILLEGAL_INSTRUCTION);
    CHECK_EQ(trap()->epc, exec_pc());
    CHECK_EQ(trap()->tval, word);
    CHECK_EQ(mpp(trap()->status), mode);
}

/* `word` (csrr a0, ...) run in `mode` is legal: no trap, a0 written. */
static void legal(int mode, uint32_t word) {
    expect_trap();
    long v = exec_in(mode, word);
    CHECK_EQ(trap_taken(), 0);
    CHECK(v != (long)TRAP_MARKER);
}

/* A trap from M and its mret: MPIE = old MIE, MIE = 0 on entry; MIE = MPIE, MPIE = 1, MPP = U
 * after. mie = 0, so no interrupt can arrive while MIE is set. */
static void mstatus_round_trip(int mie_before) {
    csr_write(mie, 0);
    if (mie_before)
        csr_set(mstatus, MSTATUS_MIE), csr_clear(mstatus, MSTATUS_MPIE);
    else
        csr_clear(mstatus, MSTATUS_MIE), csr_set(mstatus, MSTATUS_MPIE);
    expect_trap();
    probe_ecall();
    trap_taken();
    ulong at = trap()->status, after = csr_read(mstatus);
    csr_clear(mstatus, MSTATUS_MIE);
    CHECK_EQ(at & MSTATUS_MIE, 0);
    CHECK_EQ(!!(at & MSTATUS_MPIE), mie_before);
    CHECK_EQ(!!(after & MSTATUS_MIE), mie_before);
    CHECK(after & MSTATUS_MPIE);
    CHECK_EQ(mpp(after), PRV_U);
}

/* In S: sret with SPP = S to the next instruction; returns sstatus after it. */
static long s_sret_to_s(long spie) {
    ulong status;
    csr_set(sstatus, MSTATUS_SPP);
    if (spie)
        csr_set(sstatus, MSTATUS_SPIE), csr_clear(sstatus, MSTATUS_SIE);
    else
        csr_clear(sstatus, MSTATUS_SPIE), csr_set(sstatus, MSTATUS_SIE);
    __asm__ volatile("la t0, 1f\n"
                     "csrw sepc, t0\n"
                     "sret\n"
                     "1: csrr %0, sstatus"
                     : "=r"(status)::"t0", "memory");
    csr_clear(sstatus, MSTATUS_SIE);
    return (long)status;
}

/* In S: sret with SPP = U, SPIE = 1; the ecall that follows comes from U. */
static long s_sret_to_u(long unused) {
    (void)unused;
    csr_clear(sstatus, MSTATUS_SPP | MSTATUS_SIE);
    csr_set(sstatus, MSTATUS_SPIE);
    __asm__ volatile("la t0, 1f\n"
                     "csrw sepc, t0\n"
                     "sret\n"
                     "1:" ::
                         : "t0", "memory");
    return (long)probe_ecall();
}

void test_main(void) {
    section("ecall from U");
    ecall_from(PRV_U, CAUSE_USER_ECALL);
    section("ecall from S");
    ecall_from(PRV_S, CAUSE_SUPERVISOR_ECALL);
    section("ecall from M");
    ecall_from(PRV_M, CAUSE_MACHINE_ECALL);

    section("trap entry and mret with MIE = 1");
    mstatus_round_trip(1);
    section("trap entry and mret with MIE = 0");
    mstatus_round_trip(0);

    section("sret to S with SPIE = 1");
    ulong s = (ulong)run_in_mode(PRV_S, s_sret_to_s, 1);
    CHECK_EQ(s & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP), MSTATUS_SIE | MSTATUS_SPIE);
    section("sret to S with SPIE = 0");
    s = (ulong)run_in_mode(PRV_S, s_sret_to_s, 0);
    CHECK_EQ(s & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP), MSTATUS_SPIE);
    section("sret to U");
    expect_trap();
    ulong pc = (ulong)run_in_mode(PRV_S, s_sret_to_u, 0);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, CAUSE_USER_ECALL);
    CHECK_EQ(trap()->epc, pc);
    s = csr_read(sstatus);
    csr_clear(sstatus, MSTATUS_SIE);
    CHECK_EQ(s & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP), MSTATUS_SIE | MSTATUS_SPIE);

    section("U writes a read-only CSR");
    illegal(PRV_U, CSRW_CYCLE_X0);
    section("U executes a reserved compressed instruction");
    expect_trap_skip(2);
    exec_in16(PRV_U, C_LWSP_X0);
    CHECK_EQ(trap_taken(), 1);
    CHECK_EQ(trap()->cause, CAUSE_ILLEGAL_INSTRUCTION);
    CHECK_EQ(trap()->epc, exec_pc());
    CHECK_EQ(trap()->tval, C_LWSP_X0);

    section("S reads mstatus");
    illegal(PRV_S, CSRR_T0_MSTATUS);
    section("S reads mscratch");
    illegal(PRV_S, CSRR_T0_MSCRATCH);
    section("S executes mret");
    illegal(PRV_S, MRET);
    section("U reads sstatus");
    illegal(PRV_U, CSRR_T0_SSTATUS);
    section("U reads sscratch");
    illegal(PRV_U, CSRR_T0_SSCRATCH);
    section("U reads satp");
    illegal(PRV_U, CSRR_T0_SATP);
    section("U executes mret");
    illegal(PRV_U, MRET);
    /* Were sret to run by mistake, it would return to the `ret` after it in U or S. */
    csr_write(sepc, exec_pc() + 4);
    csr_clear(sstatus, MSTATUS_SPP);
    section("U executes sret");
    illegal(PRV_U, SRET);
    section("S executes sret with mstatus.TSR = 1");
    csr_write(sepc, exec_pc() + 4);
    csr_set(sstatus, MSTATUS_SPP);
    csr_set(mstatus, MSTATUS_TSR);
    illegal(PRV_S, SRET);
    csr_clear(mstatus, MSTATUS_TSR);

    section("S reads sstatus");
    legal(PRV_S, CSRR_A0_SSTATUS);
    section("S reads sscratch");
    legal(PRV_S, CSRR_A0_SSCRATCH);
    section("S reads satp with mstatus.TVM = 0");
    legal(PRV_S, CSRR_A0_SATP);
    section("S reads satp with mstatus.TVM = 1");
    csr_set(mstatus, MSTATUS_TVM);
    illegal(PRV_S, CSRR_T0_SATP);
    section("S executes sfence.vma with mstatus.TVM = 1");
    illegal(PRV_S, SFENCE_VMA);
    csr_clear(mstatus, MSTATUS_TVM);
}

CHECKS_FIT();
