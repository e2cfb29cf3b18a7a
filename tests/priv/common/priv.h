/*
 * The privileged-architecture test framework: what every test program may use.
 *
 * Boot (start.S, priv.c): every hart enters at RAM_BASE in M-mode with a0 = hart id and a1 = FDT
 * (QEMU virt -bios none), gets a stack, a per-hart block (tp), an M trap vector (mtvec) and an
 * S trap vector (stvec), one PMP entry granting S and U all memory, and then runs test_main():
 * on hart 0 only, or on every hart when the program is built with PRIV_ALL_HARTS=1. The others
 * park. The machine exits through the sifive test finisher: 0 when every check passed, else the
 * number of the first failing check (PRIV_EXIT_* below for failures that are no check).
 *
 * Traps: a trap is a failure unless the test armed one with expect_trap*(); the handler of the
 * level that takes it (M or S) records it (struct trap_record) and resumes as armed. Interrupts
 * are acknowledged by clearing their enable bit (mie for M, sie for S); the test clears the
 * source. run_in_mode() calls a function in S or U mode and returns its value through an ecall.
 */
#ifndef PRIV_H
#define PRIV_H

#include <contract.h>

#define PRIV_MAX_HARTS 8
#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* What run_in_mode's lower-mode side puts in a7 for the ecall that returns to M. */
#define PRIV_RETURN_MAGIC 0x5249564d52455455 /* arbitrary: no test ecall uses it */
/* What a faulting probe_* returns (a0 left untouched, or set by the handler). */
#define TRAP_MARKER 0x7ea7ea7ea7ea7ea7

/* Exit codes that are no check's number. */
#define PRIV_CHECK_MAX 59         /* check numbers above this exit as this */
#define PRIV_EXIT_NO_CHECKS 60    /* the program ran no check at all */
#define PRIV_EXIT_UNEXPECTED 61   /* a trap nobody armed, or one inside a trap handler */
#define PRIV_EXIT_HART_TIMEOUT 62 /* a hart never arrived (barrier, end of test) */

/* mstatus / sstatus fields. */
#define MSTATUS_SIE (1UL << 1)
#define MSTATUS_MIE (1UL << 3)
#define MSTATUS_SPIE (1UL << 5)
#define MSTATUS_MPIE (1UL << 7)
#define MSTATUS_SPP (1UL << 8)
#define MSTATUS_MPP (3UL << 11)
#define MSTATUS_FS (3UL << 13)
#define MSTATUS_MPRV (1UL << 17)
#define MSTATUS_SUM (1UL << 18)
#define MSTATUS_MXR (1UL << 19)
#define MSTATUS_TVM (1UL << 20)
#define MSTATUS_TW (1UL << 21)
#define MSTATUS_TSR (1UL << 22)
#define MSTATUS_UXL (3UL << 32)
#define MSTATUS_SXL (3UL << 34)
#define MSTATUS_MPP_SHIFT 11

/* Interrupt numbers (mip/mie bits; IRQ_M_SOFT/IRQ_M_TIMER are the contract's). */
#define IRQ_S_SOFT 1
#define IRQ_S_TIMER 5
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11
#define MIP_SSIP (1UL << IRQ_S_SOFT)
#define MIP_MSIP (1UL << IRQ_M_SOFT)
#define MIP_STIP (1UL << IRQ_S_TIMER)
#define MIP_MTIP (1UL << IRQ_M_TIMER)
#define MIP_SEIP (1UL << IRQ_S_EXT)
#define MIP_MEIP (1UL << IRQ_M_EXT)
#define INTERRUPT(irq) (CAUSE_INTERRUPT | (irq))

/* Exception causes the contract does not name. */
#define CAUSE_SUPERVISOR_ECALL 9
#define CAUSE_FETCH_PAGE_FAULT 12
#define CAUSE_LOAD_PAGE_FAULT 13
#define CAUSE_STORE_PAGE_FAULT 15

/* Offsets in struct hart used by start.S (checked against the struct in priv.c). */
#define HART_ID 0
#define HART_MTRAP_TOP 8
#define HART_STRAP_TOP 16
#define HART_JMP 24 /* ra, sp, s0..s11 */
#define HART_JMP_WORDS 14

/* The trap frame start.S builds: x0..x31 at 8 * n, then the vector slot taken (-1: direct). */
#define FRAME_VECTOR (32 * 8)
#define FRAME_SIZE (34 * 8)

#define STACK_SIZE 16384
#define TRAP_STACK_SIZE 4096

#ifndef __ASSEMBLER__

#include <stdint.h>

typedef unsigned long ulong;

#define STR_(x) #x
#define STR(x) STR_(x)
#define csr_read(csr)                                                                              \
    ({                                                                                             \
        ulong v_;                                                                                  \
        __asm__ volatile("csrr %0, " STR(csr) : "=r"(v_)::"memory");                               \
        v_;                                                                                        \
    })
#define csr_op_(op, csr, val)                                                                      \
    ({ __asm__ volatile(op " " STR(csr) ", %0" ::"r"((ulong)(val)) : "memory"); })
#define csr_write(csr, val) csr_op_("csrw", csr, val)
#define csr_set(csr, val) csr_op_("csrs", csr, val)
#define csr_clear(csr, val) csr_op_("csrc", csr, val)
struct frame {
    ulong x[32];
    long vector; /* vectored mode: the slot (cause) the trap arrived through; -1 direct */
    ulong pad;
};

/* One trap as its handler saw it. */
struct trap_record {
    int level;      /* PRV_M or PRV_S: which handler took it */
    ulong cause;    /* mcause / scause */
    ulong epc;      /* mepc / sepc */
    ulong tval;     /* mtval / stval */
    ulong status;   /* mstatus / sstatus on handler entry */
    long vector;    /* vector slot in vectored mode, else -1 */
    uint64_t mtime; /* CLINT mtime when the handler ran */
};

enum resume {
    RESUME_SKIP,   /* exceptions: return to epc + skip; interrupts: to epc */
    RESUME_RETURN, /* return to the interrupted code's ra with a0 = TRAP_MARKER (bad fetch) */
};

#define TRAP_LOG 16

struct hart {
    /* Fields start.S reads: keep in step with the HART_* offsets. */
    ulong id;
    ulong mtrap_top;
    ulong strap_top;
    ulong jmp[HART_JMP_WORDS];
    /* Framework state. */
    ulong jmp_mstatus; /* mstatus when run_in_mode was called */
    int in_lower;      /* run_in_mode is active */
    int in_handler[4]; /* by level: a trap handler is running */
    int armed;
    enum resume resume;
    ulong skip;
    unsigned taken;                   /* traps recorded since expect_trap */
    struct trap_record last;          /* the last one */
    struct trap_record log[TRAP_LOG]; /* the first TRAP_LOG since expect_trap */
    unsigned m_traps;                 /* every trap the M handler saw (incl. returns) */
    struct trap_record m_last;        /* the last of those, as M's CSRs described it */
    unsigned checks, failures;
    int first_failure;
    const char *section;
};

/* ---- Program interface. -------------------------------------------------------------------- */

/* The test: on hart 0, or on every hart with PRIV_ALL_HARTS=1. */
void test_main(void);
/* Set before test_main: how many harts the FDT lists, and this hart's block. */
extern int priv_nharts;
static inline struct hart *this_hart(void) {
    struct hart *h;
    __asm__("mv %0, tp" : "=r"(h));
    return h;
}
static inline int hart_id(void) {
    return (int)this_hart()->id;
}

/* ---- Checks. -------------------------------------------------------------------------------- */

void priv_check(int number, int ok, const char *what, int line);
void priv_check_eq(int number, ulong got, ulong want, const char *what, int line);
#define CHECK(cond) priv_check(__COUNTER__ + 1, !!(cond), #cond, __LINE__)
#define CHECK_EQ(got, want)                                                                        \
    priv_check_eq(__COUNTER__ + 1, (ulong)(got), (ulong)(want), #got " == " #want, __LINE__)
/* At the end of each program: its checks must fit in exit codes 1..PRIV_CHECK_MAX. */
#define CHECKS_FIT() _Static_assert(__COUNTER__ <= PRIV_CHECK_MAX, "too many checks")
/* Names what the following checks are about, for failure lines. */
static inline void section(const char *name) {
    this_hart()->section = name;
}

/* ---- Traps. --------------------------------------------------------------------------------- */

void expect_trap(void);             /* resume after the 4-byte instruction */
void expect_trap_skip(ulong bytes); /* resume `bytes` after the trapping instruction */
void expect_trap_return(void);      /* resume at ra with a0 = TRAP_MARKER */
unsigned trap_taken(void);          /* traps since expect_trap*; disarms */
static inline const struct trap_record *trap(void) {
    return &this_hart()->last;
}
static inline const struct trap_record *trap_log(unsigned i) {
    return &this_hart()->log[i];
}

/* Calls fn(arg) in mode (PRV_S or PRV_U) at pc/sp + offset (an alias mapping under paging), and
 * returns its value. The lower-mode side returns with an ecall (a7 = PRIV_RETURN_MAGIC). */
long run_in_mode_at(int mode, long (*fn)(long), long arg, long offset);
static inline long run_in_mode(int mode, long (*fn)(long), long arg) {
    return run_in_mode_at(mode, fn, arg, 0);
}

/* Install the vectored handlers: mtvec/stvec = table | 1 (direct: the plain entries). */
void use_vectored_mtvec(int on);
void use_vectored_stvec(int on);

/* Accesses that may fault, each one 4-byte instruction (start.S, .option norvc). A load that
 * faults returns TRAP_MARKER; probe_fetch jumps to pc and returns the code's a0. */
ulong probe_load(const volatile void *p);    /* ld */
ulong probe_load32(const volatile void *p);  /* lwu */
void probe_store(volatile void *p, ulong v); /* sd */
ulong probe_fetch(const void *pc);
/* ecall with a7 = 0 from the current mode; returns the address of the ecall instruction. */
ulong probe_ecall(void);

/* Runs `n` 32-bit instruction words (then a return) from this hart's code buffer in `mode`
 * (PRV_M, PRV_S or PRV_U; no paging) and returns the a0 they leave: TRAP_MARKER if they do not
 * write it. exec_pc() is the buffer's address: the first word's. */
long exec_words(int mode, const uint32_t *words, int n);
static inline long exec_in(int mode, uint32_t word) {
    return exec_words(mode, &word, 1);
}
long exec_in16(int mode, uint16_t half); /* one compressed instruction */
ulong exec_pc(void);
/* Waits up to `ticks` of mtime for a trap to be recorded; returns trap_taken()'s count so far
 * (without disarming). */
unsigned wait_for_trap(uint64_t ticks);

/* ---- Machine. ------------------------------------------------------------------------------ */

static inline volatile uint32_t *clint_msip(int hart) {
    return (volatile uint32_t *)(CLINT_BASE + CLINT_MSIP + 4UL * hart);
}
static inline volatile uint64_t *clint_mtimecmp(int hart) {
    return (volatile uint64_t *)(CLINT_BASE + CLINT_MTIMECMP + 8UL * hart);
}
static inline uint64_t mtime(void) {
    return *(volatile uint64_t *)(CLINT_BASE + CLINT_MTIME);
}
/* Waits until *flag != 0 or `ticks` of mtime pass; returns whether it was set. */
int wait_flag(volatile int *flag, uint64_t ticks);
/* Spins ~n iterations (a window for an interrupt that must or must not arrive). */
void delay(unsigned n);
/* Every hart calls it; returns 0 if some hart did not arrive within about a second. */
int priv_barrier(void);

void print(const char *s);
void print_hex(ulong v);
void print_dec(long v);
void priv_exit(int code) __attribute__((noreturn));

static inline void fence_i(void) {
    __asm__ volatile("fence.i" ::: "memory");
}
static inline void sfence_vma(void) {
    __asm__ volatile("sfence.vma" ::: "memory");
}

#endif /* __ASSEMBLER__ */
#endif /* PRIV_H */
