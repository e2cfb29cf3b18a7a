/*
 * The framework's C side: boot, the trap dispatcher both trap levels share, checks, console
 * and exit. See priv.h for what a test program gets.
 */
#include "priv.h"

#include <stddef.h>

#ifndef PRIV_ALL_HARTS
#define PRIV_ALL_HARTS 0
#endif
#ifndef PRIV_PROGRAM
#define PRIV_PROGRAM "?"
#endif

_Static_assert(offsetof(struct hart, id) == HART_ID, "HART_ID");
_Static_assert(offsetof(struct hart, mtrap_top) == HART_MTRAP_TOP, "HART_MTRAP_TOP");
_Static_assert(offsetof(struct hart, strap_top) == HART_STRAP_TOP, "HART_STRAP_TOP");
_Static_assert(offsetof(struct hart, jmp) == HART_JMP, "HART_JMP");
_Static_assert(offsetof(struct frame, vector) == FRAME_VECTOR, "FRAME_VECTOR");
_Static_assert(sizeof(struct frame) == FRAME_SIZE, "FRAME_SIZE");

extern char priv_mtrap_stacks[], priv_strap_stacks[];
extern char m_trap_direct[], s_trap_direct[], m_trap_vectors[], s_trap_vectors[];
extern char priv_lower_return[];
long priv_enter_lower(int mode, long (*fn)(long), long arg, long offset);
void priv_s_forward(long value) __attribute__((noreturn));
void priv_park(void) __attribute__((noreturn));
void priv_boot(ulong id, const void *fdt) __attribute__((noreturn));
void trap_dispatch(struct frame *f, int level);

static struct hart harts[PRIV_MAX_HARTS];
int priv_nharts;
static volatile int started;       /* hart 0 has counted the harts */
static volatile int finished;      /* harts done with test_main */
static volatile int first_failure; /* the first failing check's exit code, any hart */
static volatile int print_lock = -1;

/* ---- Console. ---------------------------------------------------------------------------- */

static void putc_(char c) {
    volatile uint8_t *uart = (volatile uint8_t *)UART_BASE;
    while (!(uart[UART_LSR] & UART_LSR_THRE))
        ;
    uart[UART_THR] = (uint8_t)c;
}

/* A line from several harts stays whole; a hart may re-enter (a trap while printing). */
static void lock_console(void) {
    int me = hart_id(), free_ = -1;
    if (print_lock == me)
        return;
    while (!__atomic_compare_exchange_n(&print_lock, &free_, me, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
        free_ = -1;
}

static void unlock_console(void) {
    __atomic_store_n(&print_lock, -1, __ATOMIC_RELEASE);
}

void print(const char *s) {
    while (*s)
        putc_(*s++);
}

void print_hex(ulong v) {
    print("0x");
    int shift = 60;
    while (shift > 0 && !((v >> shift) & 0xF))
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        putc_("0123456789abcdef"[(v >> shift) & 0xF]);
}

void print_dec(long v) {
    char buf[24];
    int n = 0;
    ulong u = v < 0 ? -(ulong)v : (ulong)v;
    if (v < 0)
        putc_('-');
    do {
        buf[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        putc_(buf[--n]);
}

void priv_exit(int code) {
    volatile uint32_t *finisher = (volatile uint32_t *)FINISHER_BASE;
    *finisher = code == 0 ? FINISHER_PASS : ((uint32_t)code << 16) | FINISHER_FAIL;
    for (;;)
        ;
}

/* ---- Checks. ----------------------------------------------------------------------------- */

static void fail(int number, int code) {
    struct hart *h = this_hart();
    h->failures++;
    if (!h->first_failure)
        h->first_failure = number;
    int none = 0;
    __atomic_compare_exchange_n(&first_failure, &none, code, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void fail_line(int number, const char *what, int line) {
    struct hart *h = this_hart();
    print("FAIL " PRIV_PROGRAM " check ");
    print_dec(number);
    print(" (hart ");
    print_dec((long)h->id);
    print(", line ");
    print_dec(line);
    if (h->section) {
        print(", ");
        print(h->section);
    }
    print("): ");
    print(what);
}

void priv_check(int number, int ok, const char *what, int line) {
    struct hart *h = this_hart();
    h->checks++;
    if (ok)
        return;
    lock_console();
    fail_line(number, what, line);
    print("\n");
    unlock_console();
    fail(number, number > PRIV_CHECK_MAX ? PRIV_CHECK_MAX : number);
}

void priv_check_eq(int number, ulong got, ulong want, const char *what, int line) {
    struct hart *h = this_hart();
    h->checks++;
    if (got == want)
        return;
    lock_console();
    fail_line(number, what, line);
    print(": got ");
    print_hex(got);
    print(", want ");
    print_hex(want);
    print("\n");
    unlock_console();
    fail(number, number > PRIV_CHECK_MAX ? PRIV_CHECK_MAX : number);
}

/* ---- Traps. ------------------------------------------------------------------------------ */

static void arm(enum resume how, ulong skip) {
    struct hart *h = this_hart();
    h->resume = how;
    h->skip = skip;
    h->taken = 0;
    h->last = (struct trap_record){.level = -1, .cause = ~0UL, .vector = -2};
    for (int i = 0; i < TRAP_LOG; i++)
        h->log[i] = h->last;
    __atomic_store_n(&h->armed, 1, __ATOMIC_SEQ_CST);
}

void expect_trap(void) {
    arm(RESUME_SKIP, 4);
}
void expect_trap_skip(ulong bytes) {
    arm(RESUME_SKIP, bytes);
}
void expect_trap_return(void) {
    arm(RESUME_RETURN, 0);
}

unsigned trap_taken(void) {
    struct hart *h = this_hart();
    __atomic_store_n(&h->armed, 0, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&h->taken, __ATOMIC_SEQ_CST);
}

static void __attribute__((noreturn)) fatal(const char *why, int level, ulong cause, ulong epc,
                                            ulong tval) {
    struct hart *h = this_hart();
    lock_console();
    print("FAIL " PRIV_PROGRAM ": ");
    print(why);
    print(" (hart ");
    print_dec((long)h->id);
    print(level == PRV_M ? ", M handler" : ", S handler");
    print(", cause ");
    print_hex(cause);
    print(", epc ");
    print_hex(epc);
    print(", tval ");
    print_hex(tval);
    if (h->section) {
        print(", in ");
        print(h->section);
    }
    print(")\n");
    unlock_console();
    priv_exit(PRIV_EXIT_UNEXPECTED);
}

static int is_return_ecall(struct frame *f, ulong cause) {
    return (cause == CAUSE_USER_ECALL || cause == CAUSE_SUPERVISOR_ECALL) &&
           f->x[17] == PRIV_RETURN_MAGIC;
}

/* Both levels: `level` says whose CSRs describe the trap. Runs in that mode. */
void trap_dispatch(struct frame *f, int level) {
    struct hart *h = this_hart();
    ulong cause, epc, tval, status;
    if (level == PRV_M) {
        cause = csr_read(mcause), epc = csr_read(mepc), tval = csr_read(mtval);
        status = csr_read(mstatus);
        h->m_traps++;
        h->m_last = (struct trap_record){level, cause, epc, tval, status, f->vector, 0};
    } else {
        cause = csr_read(scause), epc = csr_read(sepc), tval = csr_read(stval);
        status = csr_read(sstatus);
    }

    if (is_return_ecall(f, cause) ||
        (cause == CAUSE_MACHINE_ECALL && f->x[17] == PRIV_RETURN_MAGIC)) {
        if (cause == CAUSE_MACHINE_ECALL)
            fatal("run_in_mode's mret did not leave M", level, cause, epc, tval);
        if (level == PRV_S) {
            if (cause == CAUSE_SUPERVISOR_ECALL)
                fatal("S-mode ecalls are delegated: cannot return to M", level, cause, epc, tval);
            priv_s_forward((long)f->x[10]); /* a delegated U return: on to M */
        }
        if (!h->in_lower)
            fatal("return ecall outside run_in_mode", level, cause, epc, tval);
        h->in_lower = 0;
        h->in_handler[PRV_M] = h->in_handler[PRV_S] = 0;
        ulong ms = status & ~(MSTATUS_MPP | MSTATUS_MPIE);
        ms |= MSTATUS_MPP | (h->jmp_mstatus & MSTATUS_MIE ? MSTATUS_MPIE : 0);
        csr_write(mstatus, ms);
        csr_write(mepc, (ulong)priv_lower_return);
        return; /* a0 (x10) carries the value */
    }

    if (h->in_handler[level])
        fatal("trap inside the trap handler", level, cause, epc, tval);
    if (!h->armed)
        fatal("unexpected trap", level, cause, epc, tval);
    h->in_handler[level] = 1;

    struct trap_record r = {level, cause, epc, tval, status, f->vector, mtime()};
    if (h->taken < TRAP_LOG)
        h->log[h->taken] = r;
    h->last = r;
    if (++h->taken > 64)
        fatal("trap storm (over 64 traps)", level, cause, epc, tval);

    if (cause & CAUSE_INTERRUPT) {
        ulong bit = 1UL << (cause & 63);
        if (level == PRV_M)
            csr_clear(mie, bit);
        else
            csr_clear(sie, bit);
    } else {
        if (h->resume == RESUME_SKIP) {
            epc += h->skip;
        } else { /* RESUME_RETURN */
            epc = f->x[1];
            f->x[10] = TRAP_MARKER;
        }
        if (level == PRV_M)
            csr_write(mepc, epc);
        else
            csr_write(sepc, epc);
    }
    h->in_handler[level] = 0;
}

unsigned wait_for_trap(uint64_t ticks) {
    struct hart *h = this_hart();
    uint64_t end = mtime() + ticks;
    while (!__atomic_load_n(&h->taken, __ATOMIC_SEQ_CST) && mtime() <= end)
        ;
    return __atomic_load_n(&h->taken, __ATOMIC_SEQ_CST);
}

/* Per-hart code buffers for exec_words: up to EXEC_WORDS instructions and a return. */
#define EXEC_WORDS 15
static uint32_t exec_buffers[PRIV_MAX_HARTS][EXEC_WORDS + 1] __attribute__((aligned(64)));

ulong exec_pc(void) {
    return (ulong)exec_buffers[hart_id()];
}

static long exec_call(long unused) {
    (void)unused;
    return ((long (*)(long))exec_pc())((long)TRAP_MARKER);
}

static long exec_buffer(int mode) {
    fence_i();
    return mode == PRV_M ? exec_call(0) : run_in_mode(mode, exec_call, 0);
}

long exec_words(int mode, const uint32_t *words, int n) {
    uint32_t *buf = exec_buffers[hart_id()];
    for (int i = 0; i < n && i < EXEC_WORDS; i++)
        buf[i] = words[i];
    buf[n < EXEC_WORDS ? n : EXEC_WORDS] = 0x00008067; /* jalr x0, 0(ra) */
    return exec_buffer(mode);
}

long exec_in16(int mode, uint16_t half) {
    uint16_t *buf = (uint16_t *)exec_buffers[hart_id()];
    buf[0] = half;
    buf[1] = 0x8082; /* c.jr ra */
    return exec_buffer(mode);
}

long run_in_mode_at(int mode, long (*fn)(long), long arg, long offset) {
    struct hart *h = this_hart();
    h->jmp_mstatus = csr_read(mstatus);
    h->in_lower = 1;
    return priv_enter_lower(mode, fn, arg, offset);
}

void use_vectored_mtvec(int on) {
    csr_write(mtvec, on ? (ulong)m_trap_vectors | 1 : (ulong)m_trap_direct);
}

void use_vectored_stvec(int on) {
    csr_write(stvec, on ? (ulong)s_trap_vectors | 1 : (ulong)s_trap_direct);
}

/* ---- Harts. ------------------------------------------------------------------------------ */

void delay(unsigned n) {
    for (volatile unsigned i = 0; i < n; i++)
        ;
}

int wait_flag(volatile int *flag, uint64_t ticks) {
    uint64_t end = mtime() + ticks;
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        if (mtime() > end)
            return 0;
    return 1;
}

int priv_barrier(void) {
    static volatile int count, generation;
    int gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&count, 1, __ATOMIC_ACQ_REL) == priv_nharts) {
        count = 0;
        __atomic_store_n(&generation, gen + 1, __ATOMIC_RELEASE);
        return 1;
    }
    uint64_t end = mtime() + MTIME_HZ;
    while (__atomic_load_n(&generation, __ATOMIC_ACQUIRE) == gen)
        if (mtime() > end)
            return 0;
    return 1;
}

/* CPUs in the FDT: nodes named cpu@N directly under /cpus. */
static uint32_t be32(const void *p) {
    return __builtin_bswap32(*(const uint32_t *)p);
}

static int fdt_count_cpus(const char *fdt) {
    if (be32(fdt) != 0xd00dfeed)
        return 1;
    const char *p = fdt + be32(fdt + 8), *end = p + be32(fdt + 36);
    int depth = 0, in_cpus = 0, cpus = 0;
    while (p < end) {
        uint32_t token = be32(p);
        p += 4;
        if (token == 1) { /* BEGIN_NODE name */
            const char *name = p;
            int len = 0;
            while (name[len])
                len++;
            p += (len + 4) & ~3;
            depth++;
            if (depth == 2)
                in_cpus = len == 4 && name[0] == 'c' && name[1] == 'p' && name[2] == 'u' &&
                          name[3] == 's';
            else if (depth == 3 && in_cpus && len > 4 && name[0] == 'c' && name[1] == 'p' &&
                     name[2] == 'u' && name[3] == '@')
                cpus++;
        } else if (token == 2) { /* END_NODE */
            depth--;
        } else if (token == 3) { /* PROP len nameoff value */
            p += 8 + ((be32(p) + 3) & ~3U);
        } else if (token == 9) { /* END */
            break;
        } /* 4: NOP */
    }
    return cpus ? cpus : 1;
}

static void __attribute__((noreturn)) finish(void) {
    int fails = 0;
    unsigned checks = 0;
    for (int i = 0; i < priv_nharts; i++)
        checks += harts[i].checks, fails += harts[i].failures;
    int code = first_failure;
    lock_console();
    print(PRIV_PROGRAM ": ");
    print_dec(checks);
    print(" checks on ");
    print_dec(priv_nharts);
    print(priv_nharts == 1 ? " hart, " : " harts, ");
    print_dec(fails);
    print(" failed");
    if (!code && !checks) {
        code = PRIV_EXIT_NO_CHECKS;
        print(" (no check ran: that is a failure)");
    }
    print(code ? "\n" : "\nPASS\n");
    unlock_console();
    priv_exit(code);
}

void priv_boot(ulong id, const void *fdt) {
    struct hart *h = &harts[id];
    __asm__ volatile("mv tp, %0" ::"r"(h) : "memory");
    h->id = id;
    h->mtrap_top = (ulong)priv_mtrap_stacks + (id + 1) * TRAP_STACK_SIZE;
    h->strap_top = (ulong)priv_strap_stacks + (id + 1) * TRAP_STACK_SIZE;
    csr_write(mscratch, h->mtrap_top);
    csr_write(sscratch, h->strap_top);
    csr_write(mtvec, (ulong)m_trap_direct);
    csr_write(stvec, (ulong)s_trap_direct);
    csr_write(medeleg, 0);
    csr_write(mideleg, 0);
    csr_write(satp, 0);
    /* S and U may access everything: with PMP implemented and no entry matching, their
     * accesses fail (privileged spec, "Physical Memory Protection"). Entry 0, NAPOT, RWX. */
    csr_write(pmpaddr0, ~0UL);
    csr_write(pmpcfg0, 0x1f);
    sfence_vma();
    /* No interrupt pending from the CLINT (QEMU's mtimecmp resets to 0: MTIP pending). */
    *clint_mtimecmp((int)id) = ~0UL;
    *clint_msip((int)id) = 0;

    if (id == 0) {
        int n = fdt_count_cpus(fdt);
        priv_nharts = n > PRIV_MAX_HARTS ? PRIV_MAX_HARTS : n;
        __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
    } else {
        while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE))
            ;
        if ((int)id >= priv_nharts)
            priv_park();
    }

    if (!PRIV_ALL_HARTS) {
        if (id != 0)
            priv_park();
        test_main();
        finish();
    }
    test_main();
    __atomic_add_fetch(&finished, 1, __ATOMIC_ACQ_REL);
    if (id != 0)
        priv_park();
    uint64_t end = mtime() + 2 * MTIME_HZ;
    while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) < priv_nharts) {
        if (mtime() > end) {
            lock_console();
            print("FAIL " PRIV_PROGRAM ": not every hart finished test_main\n");
            unlock_console();
            priv_exit(PRIV_EXIT_HART_TIMEOUT);
        }
    }
    finish();
}
