/*
 * Calibration microbenchmarks for the virtual-time model (emulator/instruments/timing.py): each
 * one runs a loop of CALIB_OPS operations whose coherence traffic the model's rules determine,
 * and prints, per hart, the cycles (rdcycle: the hart's virtual clock) and instructions
 * (rdinstret) the loop took. tests/test_calibration.py and scripts/calibrate.py compare them with
 * what the cost file predicts; docs/calibration.md derives each prediction.
 *
 * One line per hart and benchmark:
 *   calib NAME hart=H harts=N ops=K cycles=C instret=I cycles_per_op=C/K instret_per_op=I/K
 *
 * -D CALIB_ONLY=NAME runs one benchmark (pingpong counter ttas ticket falsesharing nosharing
 * readmostly), else all in that order. Every shared word sits alone in a LINE-aligned block, so
 * no two benchmarks, and no two words meant to be apart, share a line for any line size up to
 * LINE bytes.
 */
#include "rt/runtime.h"

#ifndef CALIB_OPS
#define CALIB_OPS 128
#endif
#ifndef CALIB_ONLY
#define CALIB_ONLY all
#endif
/* Read-mostly: hart 0 writes one element every CALIB_RM_EVERY passes over the array. */
#ifndef CALIB_RM_EVERY
#define CALIB_RM_EVERY 4
#endif

#define STR(x) #x
#define XSTR(x) STR(x)

/* The largest line size the separation holds for (costs.toml's line_bytes may be any multiple
 * of 64 up to this). */
#define LINE 256
#define RM_WORDS 64 /* 512 bytes: several lines at any line size up to LINE */

struct line {
    volatile unsigned long word;
} __attribute__((aligned(LINE)));

static struct line pp_flag;
static struct line amo_counter;
spinlock_t calib_spin __attribute__((aligned(LINE)));
static struct line spin_data; /* what the TTAS lock protects: a count and the last holder */
static struct line spin_last;
/* The ticket lock, written here with its two words on separate lines (the runtime's keeps them
 * in one), so that drawing a ticket does not disturb the waiters spinning on `owner`. */
static struct line ticket_next, ticket_owner;
static struct line ticket_data;
/* False sharing: every hart's word in one line; no sharing: each hart's word on its own line. */
static volatile unsigned long shared_words[8] __attribute__((aligned(LINE)));
static struct line own_words[MAX_HARTS];
static volatile unsigned long rm_array[RM_WORDS] __attribute__((aligned(LINE)));

static unsigned long ops = CALIB_OPS;

struct stamp {
    unsigned long cycles, instret;
};

static inline struct stamp stamp(void) {
    struct stamp s;
    s.cycles = csr_read(cycle);
    s.instret = csr_read(instret);
    return s;
}

static bool selected(const char *name) {
    const char *only = XSTR(CALIB_ONLY);
    return !strcmp(only, "all") || !strcmp(only, name);
}

/* Each hart keeps its figures on a line of its own until every hart is done; hart 0 then prints
 * them all. No hart touches a shared line after its loop but for one barrier, so a run's
 * line_wait_cycles after the loops are the same however long the loops ran (the calibration
 * subtracts two runs' waits). */
static struct {
    struct stamp a, b;
    unsigned long extra; /* ttas: handoffs */
} __attribute__((aligned(LINE))) results[MAX_HARTS];

static void record(unsigned hart, struct stamp a, struct stamp b, unsigned long extra) {
    results[hart].a = a;
    results[hart].b = b;
    results[hart].extra = extra;
}

/* Harts finish their loops close together, and a barrier's count line serves one arrival at a
 * time: arrivals that bunch wait for each other, and how they bunch varies from run to run. So
 * each hart that ran the loop first spins on registers alone for its rank x CALIB_STAGGER cycles:
 * they arrive one by one, in hart order, none waiting for the line (as long as they finished
 * their loops less than CALIB_STAGGER - line_transfer cycles apart). */
#ifndef CALIB_STAGGER
#define CALIB_STAGGER 4096
#endif

static void stagger(unsigned hart) {
    unsigned long n = (unsigned long)hart * CALIB_STAGGER / 2; /* two instructions a turn */
    __asm__ volatile("beqz %0, 2f\n1: addi %0, %0, -1\n bnez %0, 1b\n2:" : "+r"(n));
}

/* Per-operation figures with two decimals: printf has no %f. */
static void report(const char *name, unsigned first, unsigned count, unsigned nharts) {
    unsigned hart = hart_id();
    if (hart >= first && hart < first + count) /* the others are at the barrier already */
        stagger(hart - first);
    barrier_all();
    if (hart != 0)
        return;
    for (unsigned h = first; h < first + count; h++) {
        unsigned long c = results[h].b.cycles - results[h].a.cycles;
        unsigned long i = results[h].b.instret - results[h].a.instret;
        unsigned long c100 = c * 100 / ops, i100 = i * 100 / ops;
        printf("calib %s hart=%u harts=%u ops=%lu cycles=%lu instret=%lu cycles_per_op=%lu.%02lu "
               "instret_per_op=%lu.%02lu\n",
               name, h, nharts, ops, c, i, c100 / 100, c100 % 100, i100 / 100, i100 % 100);
    }
}

/* ---- ping-pong: hart 0 writes odd values, hart 1 answers with the next even one ---------- */

static void pingpong_send(volatile unsigned long *flag, unsigned long n) {
    /* Store v, wait for v + 1, v += 2: one round trip per iteration. */
    unsigned long v = 1, end = 2 * n + 1, seen;
    __asm__ volatile("1: sd %[v], 0(%[f])\n"
                     "   addi %[v], %[v], 1\n"
                     "2: ld %[s], 0(%[f])\n"
                     "   bne %[s], %[v], 2b\n"
                     "   addi %[v], %[v], 1\n"
                     "   bne %[v], %[end], 1b\n"
                     : [v] "+r"(v), [s] "=&r"(seen)
                     : [f] "r"(flag), [end] "r"(end)
                     : "memory");
}

static void pingpong_answer(volatile unsigned long *flag, unsigned long n) {
    /* Wait for v, store v + 1, v += 2. */
    unsigned long v = 1, end = 2 * n + 1, seen;
    __asm__ volatile("1: ld %[s], 0(%[f])\n"
                     "   bne %[s], %[v], 1b\n"
                     "   addi %[v], %[v], 1\n"
                     "   sd %[v], 0(%[f])\n"
                     "   addi %[v], %[v], 1\n"
                     "   bne %[v], %[end], 1b\n"
                     : [v] "+r"(v), [s] "=&r"(seen)
                     : [f] "r"(flag), [end] "r"(end)
                     : "memory");
}

static void pingpong(unsigned hart, unsigned nharts) {
    if (nharts < 2) {
        if (hart == 0)
            printf("calib pingpong skipped: it needs 2 harts\n");
        return;
    }
    (void)pp_flag.word; /* both start with the line Shared */
    barrier_all();
    struct stamp a = stamp();
    if (hart == 0)
        pingpong_send(&pp_flag.word, ops);
    else if (hart == 1)
        pingpong_answer(&pp_flag.word, ops);
    struct stamp b = stamp();
    record(hart, a, b, 0);
    report("pingpong", 0, 2, nharts);
}

/* ---- contended counter: every hart amoadds one word -------------------------------------- */

static void amoadd_loop(volatile unsigned long *word, unsigned long n) {
    __asm__ volatile("1: amoadd.d zero, %[one], (%[w])\n"
                     "   addi %[n], %[n], -1\n"
                     "   bnez %[n], 1b\n"
                     : [n] "+r"(n)
                     : [w] "r"(word), [one] "r"(1UL)
                     : "memory");
}

static int counter(unsigned hart, unsigned nharts) {
    barrier_all();
    struct stamp a = stamp();
    amoadd_loop(&amo_counter.word, ops);
    struct stamp b = stamp();
    record(hart, a, b, 0);
    report("counter", 0, nharts, nharts);
    return amo_counter.word == nharts * ops ? 0 : 1;
}

/* ---- locks around a critical section that increments a count on its own line ------------ */

static void ticket_acquire(void) {
    unsigned long t = __atomic_fetch_add(&ticket_next.word, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&ticket_owner.word, __ATOMIC_ACQUIRE) != t)
        ;
}

static void ticket_release(void) {
    /* Only the holder writes owner: a plain increment, made visible after the section. */
    unsigned long o = __atomic_load_n(&ticket_owner.word, __ATOMIC_RELAXED);
    __atomic_store_n(&ticket_owner.word, o + 1, __ATOMIC_RELEASE);
}

static int ttas(unsigned hart, unsigned nharts) {
    /* Handoffs (an acquisition by another hart than the previous holder) are counted in the
     * section itself, so the test knows how often the lock and the data changed hands. */
    static struct line handoffs[MAX_HARTS];
    barrier_all();
    struct stamp a = stamp();
    for (unsigned long i = 0; i < ops; i++) {
        spin_lock(&calib_spin);
        spin_data.word = spin_data.word + 1;
        if (spin_last.word != hart + 1) {
            spin_last.word = hart + 1;
            handoffs[hart].word++;
        }
        spin_unlock(&calib_spin);
    }
    struct stamp b = stamp();
    record(hart, a, b, handoffs[hart].word);
    report("ttas", 0, nharts, nharts);
    for (unsigned h = 0; hart == 0 && h < nharts; h++)
        printf("calib ttas-handoffs hart=%u handoffs=%lu\n", h, results[h].extra);
    return spin_data.word == nharts * ops ? 0 : 1;
}

static int ticket(unsigned hart, unsigned nharts) {
    barrier_all();
    struct stamp a = stamp();
    for (unsigned long i = 0; i < ops; i++) {
        ticket_acquire();
        ticket_data.word = ticket_data.word + 1;
        ticket_release();
    }
    struct stamp b = stamp();
    record(hart, a, b, 0);
    report("ticket", 0, nharts, nharts);
    return ticket_data.word == nharts * ops ? 0 : 1;
}

/* ---- false sharing vs no sharing: each hart stores to its own word ----------------------- */

static void store_loop(volatile unsigned long *word, unsigned long n) {
    __asm__ volatile("1: sd %[n], 0(%[w])\n"
                     "   addi %[n], %[n], -1\n"
                     "   bnez %[n], 1b\n"
                     : [n] "+r"(n)
                     : [w] "r"(word)
                     : "memory");
}

static void sharing(const char *name, volatile unsigned long *word, unsigned hart,
                    unsigned nharts) {
    *word = 0; /* start with the line in this hart's L1 */
    barrier_all();
    struct stamp a = stamp();
    store_loop(word, ops);
    struct stamp b = stamp();
    record(hart, a, b, 0);
    report(name, 0, nharts, nharts);
}

/* ---- read-mostly: every hart sums the array; hart 0 also writes one word now and then ---- */

static int readmostly(unsigned hart, unsigned nharts) {
    unsigned long sum = 0;
    for (unsigned j = 0; j < RM_WORDS; j++) /* warm: every hart holds every line Shared */
        sum += rm_array[j];
    barrier_all();
    struct stamp a = stamp();
    for (unsigned long p = 0; p < ops; p++) {
        if (hart == 0 && p % CALIB_RM_EVERY == 0) {
            /* A different line each time, walking the array at the largest line size. */
            unsigned long w = p / CALIB_RM_EVERY * (LINE / 8 / 4) % RM_WORDS;
            rm_array[w] = p;
        }
        for (unsigned j = 0; j < RM_WORDS; j++)
            sum += rm_array[j];
    }
    struct stamp b = stamp();
    record(hart, a, b, 0);
    report("readmostly", 0, nharts, nharts);
    return sum == 0xdeadbeef; /* keeps the loads; never true */
}

int app_main(unsigned hart, unsigned nharts) {
    int bad = 0;
    if (nharts > 8) {
        if (hart == 0)
            printf("calib: at most 8 harts (one line holds 8 words)\n");
        return 1;
    }
    if (selected("pingpong"))
        pingpong(hart, nharts);
    if (selected("counter"))
        bad |= counter(hart, nharts);
    if (selected("ttas"))
        bad |= ttas(hart, nharts);
    if (selected("ticket"))
        bad |= ticket(hart, nharts);
    if (selected("falsesharing"))
        sharing("falsesharing", &shared_words[hart], hart, nharts);
    if (selected("nosharing"))
        sharing("nosharing", &own_words[hart].word, hart, nharts);
    if (selected("readmostly"))
        bad |= readmostly(hart, nharts);
    barrier_all();
    if (hart == 0)
        printf("calib: %s\n", bad ? "FAIL" : "done");
    return bad;
}
