/*
 * LR/SC litmus tests. A reservation, not a value, decides whether an SC succeeds:
 *
 *   aba                       hart 0 holds an LR reservation while hart 1 stores 5 then 7 back
 *                             over the 7 it read; the SC must fail although the value matches.
 *   sc-after-sc               an SC ends the reservation: a second SC without a new LR fails.
 *   sc-other-address          an SC to a word outside the reserved one fails and stores nothing.
 *   sc-without-lr-after-trap  a trap (an ecall) between LR and SC ends the reservation.
 *   lrsc-counter              every hart adds 1 LITMUS_ITERS times with a constrained LR/SC loop.
 *
 * Every LR/SC sequence is one asm block, so the compiler inserts nothing between LR and SC.
 * Needs 2 harts (with 1 it says so and passes); harts above 1 only take part in lrsc-counter.
 */
#include "rt/runtime.h"

#ifndef LITMUS_ITERS
#define LITMUS_ITERS 2000
#endif

/* aba: hart 0 spins at least this many times between its LR and SC (far more than the 16
 * instructions a scheduler may grant to finish a constrained loop), and gives up on hart 1 after
 * SPIN_LIMIT iterations. */
#define ABA_MIN_SPINS 200
#define SPIN_LIMIT 500000000UL

enum failure {
    FAIL_ABA = 1,
    FAIL_SC_AFTER_SC,
    FAIL_SC_OTHER_ADDRESS,
    FAIL_SC_AFTER_TRAP,
    FAIL_COUNTER,
    FAIL_ABA_HART1, /* hart 1 never saw hart 0's go flag */
};

/* Each shared word on its own 64-byte line, so no two share a reservation granule. */
struct line {
    volatile unsigned long v;
} __attribute__((aligned(64)));

static struct line aba_word, aba_go, aba_done;
static struct line word_a, word_b;
static struct line counter;

static void report(const char *name, int ok, const char *detail) {
    if (ok)
        printf("litmus-lrsc: %s ok\n", name);
    else
        printf("litmus-lrsc: %s FAIL (%s)\n", name, detail);
}

/* Hart 0's side of aba: LR, release hart 1, spin on plain loads until it is done, then SC. */
static int aba_hart0(void) {
    unsigned long old, spins, sc, done;
    aba_word.v = 7;
    aba_done.v = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __asm__ volatile(
        "lr.d    %[old], (%[word])\n"
        "li      %[done], 1\n"
        "sd      %[done], 0(%[go])\n"
        "li      %[spins], 0\n"
        "1:\n"
        "ld      %[done], 0(%[flag])\n"
        "addi    %[spins], %[spins], 1\n"
        "bgeu    %[spins], %[limit], 2f\n"
        "beqz    %[done], 1b\n"
        "bltu    %[spins], %[min], 1b\n"
        "2:\n"
        "sc.d    %[sc], %[nine], (%[word])\n"
        : [old] "=&r"(old), [spins] "=&r"(spins), [sc] "=&r"(sc), [done] "=&r"(done)
        : [word] "r"(&aba_word.v), [go] "r"(&aba_go.v), [flag] "r"(&aba_done.v), [nine] "r"(9UL),
          [limit] "r"(SPIN_LIMIT), [min] "r"((unsigned long)ABA_MIN_SPINS)
        : "memory");
    unsigned long now = aba_word.v;
    char detail[128];
    snprintf(detail, sizeof detail, "lr read %lu, sc rd=%lu, word now %lu, hart 1 %s, %lu spins",
             old, sc, now, done ? "done" : "never done", spins);
    int ok = old == 7 && sc != 0 && now == 7 && done;
    report("aba", ok, detail);
    return ok ? 0 : FAIL_ABA;
}

/* Hart 1's side of aba: wait for the go flag, then A -> B -> A with plain stores. */
static int aba_hart1(void) {
    unsigned long spins = 0;
    while (!__atomic_load_n(&aba_go.v, __ATOMIC_ACQUIRE))
        if (++spins == SPIN_LIMIT)
            return FAIL_ABA_HART1;
    aba_word.v = 5;
    aba_word.v = 7;
    __atomic_store_n(&aba_done.v, 1, __ATOMIC_RELEASE);
    return 0;
}

static int sc_after_sc(void) {
    unsigned long v = 0, sc1 = 1, sc2 = 0;
    word_a.v = 40;
    /* The first SC may fail spuriously; retry the whole pair a few times until it succeeds. */
    for (int attempt = 0; attempt < 100 && sc1 != 0; attempt++)
        __asm__ volatile("lr.d    %[v], (%[a])\n"
                         "addi    %[v], %[v], 1\n"
                         "sc.d    %[sc1], %[v], (%[a])\n"
                         "sc.d    %[sc2], %[bad], (%[a])\n"
                         : [v] "=&r"(v), [sc1] "=&r"(sc1), [sc2] "=&r"(sc2)
                         : [a] "r"(&word_a.v), [bad] "r"(0xdeadUL)
                         : "memory");
    unsigned long now = word_a.v;
    char detail[128];
    snprintf(detail, sizeof detail, "first sc rd=%lu, second sc rd=%lu, word now %lu (want 41)",
             sc1, sc2, now);
    int ok = sc1 == 0 && sc2 != 0 && now == 41;
    report("sc-after-sc", ok, detail);
    return ok ? 0 : FAIL_SC_AFTER_SC;
}

static int sc_other_address(void) {
    unsigned long v, sc;
    word_a.v = 11;
    word_b.v = 22;
    __asm__ volatile("lr.d    %[v], (%[a])\n"
                     "sc.d    %[sc], %[new], (%[b])\n"
                     : [v] "=&r"(v), [sc] "=&r"(sc)
                     : [a] "r"(&word_a.v), [b] "r"(&word_b.v), [new] "r"(33UL)
                     : "memory");
    unsigned long a = word_a.v, b = word_b.v;
    char detail[128];
    snprintf(detail, sizeof detail, "sc rd=%lu, A now %lu (want 11), B now %lu (want 22)", sc, a,
             b);
    int ok = v == 11 && sc != 0 && a == 11 && b == 22;
    report("sc-other-address", ok, detail);
    return ok ? 0 : FAIL_SC_OTHER_ADDRESS;
}

static int sc_after_trap(void) {
    static const char buf[1] = {0};
    unsigned long v, sc;
    long ret;
    word_a.v = 50;
    /* write(1, buf, 0) through the system-call instruction (an ecall, rt/syscall.h) between LR
     * and SC; the trap path saves every register. */
    __asm__ volatile("li      a7, %[nr]\n"
                     "li      a0, 1\n"
                     "mv      a1, %[buf]\n"
                     "li      a2, 0\n"
                     "lr.d    %[v], (%[a])\n" SYSCALL_INSN "\n"
                     "sc.d    %[sc], %[new], (%[a])\n"
                     "mv      %[ret], a0\n"
                     : [v] "=&r"(v), [sc] "=&r"(sc), [ret] "=&r"(ret)
                     : [a] "r"(&word_a.v), [buf] "r"(buf), [new] "r"(51UL), [nr] "i"(SYS_write)
                     : "a0", "a1", "a2", "a7", SYSCALL_CLOBBERS);
    unsigned long now = word_a.v;
    char detail[128];
    snprintf(detail, sizeof detail, "write returned %ld, sc rd=%lu, word now %lu (want 50)", ret,
             sc, now);
    int ok = v == 50 && ret == 0 && sc != 0 && now == 50;
    report("sc-without-lr-after-trap", ok, detail);
    return ok ? 0 : FAIL_SC_AFTER_TRAP;
}

static void count_up(void) {
    for (unsigned i = 0; i < LITMUS_ITERS; i++)
        __asm__ volatile("1:\n"
                         "lr.d    t0, (%0)\n"
                         "addi    t0, t0, 1\n"
                         "sc.d    t1, t0, (%0)\n"
                         "bnez    t1, 1b\n"
                         :
                         : "r"(&counter.v)
                         : "t0", "t1", "memory");
}

/* Keep the first failure code, count all of them. */
static void note(int *first, int *failures, int rc) {
    if (!rc)
        return;
    if (!*first)
        *first = rc;
    ++*failures;
}

int app_main(unsigned hart, unsigned nharts) {
    if (nharts < 2) {
        printf("litmus-lrsc: needs 2 harts\n");
        return 0;
    }
    int first = 0, failures = 0;

    if (hart == 0)
        note(&first, &failures, aba_hart0());
    else if (hart == 1)
        note(&first, &failures, aba_hart1());
    barrier_all();

    if (hart == 0) {
        note(&first, &failures, sc_after_sc());
        note(&first, &failures, sc_other_address());
        note(&first, &failures, sc_after_trap());
    }
    barrier_all();

    count_up();
    barrier_all();

    if (hart != 0)
        return first;
    unsigned long total = counter.v, expected = (unsigned long)nharts * LITMUS_ITERS;
    char detail[96];
    snprintf(detail, sizeof detail, "counter %lu, want %lu", total, expected);
    report("lrsc-counter", total == expected, detail);
    note(&first, &failures, total == expected ? 0 : FAIL_COUNTER);

    if (failures)
        printf("litmus-lrsc: FAIL (%d checks failed)\n", failures);
    else
        printf("litmus-lrsc: PASS\n");
    return first;
}
