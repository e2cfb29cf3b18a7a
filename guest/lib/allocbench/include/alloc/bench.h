/*
 * The harness of the SMP allocation benchmarks (guest/apps/bench-*; docs/benchmarks.md), header
 * only: each benchmark is one app built from its own directory, the runtime and the allocator.
 * A benchmark uses only the uk_* interface, so it runs on every allocator configuration.
 *
 * The contract the host relies on (docs/benchmarks.md, "Contract"):
 *
 *   bench_init(hart)        hart 0: alloc_init and the free page count; every hart: barrier_all
 *   [optional set-up, not timed (cache-scratch: hart 0 allocates what it hands over), then
 *    barrier_all()]
 *   bench_begin()           every hart: a zero-length write(1, "", 0); the host timestamps it
 *   ... the hart's part of the benchmark: it frees everything it allocated ...
 *   bench_end(ops)          every hart: another zero-length write, its op count added to the
 *                           total, barrier_all
 *   return bench_finish(hart, nharts, NAME)
 *                           page conservation (uk_pavailmem before and after), then hart 0
 *                           prints exactly one line and returns the exit code:
 *                             bench NAME: harts=N ops=TOTAL ok            (exit 0)
 *                             bench NAME: FAILED <reason>                 (exit 1..63)
 *
 * An op is one allocation (uk_malloc, uk_calloc, uk_realloc, uk_palloc) or one free (uk_free,
 * uk_pfree) of a block; each benchmark says which calls it counts. A failure anywhere is
 * recorded with bench_fail (the first one wins) and the harts carry on, so that every hart
 * still reaches every barrier; a NULL from the allocator is a failure.
 */
#ifndef ALLOC_BENCH_H
#define ALLOC_BENCH_H

#include <alloc/alloc.h>
#include <rt/runtime.h>
#include <stdarg.h>
#include <stdint.h>

#ifdef CONFIG_LIBMIMALLOC
#include <alloc/frontend.h>
#endif

/* Seed of every hart's generator (each hart also mixes in its id). */
#ifndef BENCH_SEED
#define BENCH_SEED 1
#endif

/* Exit codes of a failed benchmark (hart 0 returns the first failure's code). */
#define BENCH_EXIT_INIT 1    /* no allocator in the build, or alloc_init failed */
#define BENCH_EXIT_NOMEM 2   /* the allocator returned NULL */
#define BENCH_EXIT_CORRUPT 3 /* a block's contents were not what its owner wrote */
#define BENCH_EXIT_PAGES 4   /* free pages after the run differ from before it */
#define BENCH_EXIT_COUNT 5   /* blocks lost or duplicated on their way between harts */

struct bench_shared {
    unsigned long ops; /* summed over harts by bench_end */
    int failed;        /* the first failure's exit code, 0 while none */
    int reason_ready;  /* set once `reason` is written */
    long pages_before; /* uk_pavailmem() right after alloc_init */
    char reason[160];
};

static struct bench_shared bench_state __attribute__((unused));

/* ---- failures ---- */

/* Record a failure; only the first one is kept (code in 1..63, reason printf-style). */
__attribute__((format(printf, 2, 3))) static inline void bench_fail(int code, const char *fmt,
                                                                    ...) {
    int none = 0;
    if (!__atomic_compare_exchange_n(&bench_state.failed, &none, code, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bench_state.reason, sizeof bench_state.reason, fmt, ap);
    va_end(ap);
    __atomic_store_n(&bench_state.reason_ready, 1, __ATOMIC_RELEASE);
}

static inline int bench_failed(void) {
    return __atomic_load_n(&bench_state.failed, __ATOMIC_RELAXED) != 0;
}

/* ---- random numbers: splitmix64 to seed, xorshift64* to step ---- */

struct bench_rng {
    uint64_t s;
};

static inline uint64_t bench_mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void bench_rng_init(struct bench_rng *r, unsigned hart) {
    r->s = bench_mix((uint64_t)BENCH_SEED * 0x100000001b3ULL + hart + 1);
    if (r->s == 0)
        r->s = 1;
}

static inline uint64_t bench_rand(struct bench_rng *r) {
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n), n < 2^32. */
static inline unsigned long bench_below(struct bench_rng *r, unsigned long n) {
    return (unsigned long)(((bench_rand(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static inline unsigned long bench_range(struct bench_rng *r, unsigned long lo, unsigned long hi) {
    return lo + bench_below(r, hi - lo + 1);
}

/* True with probability pct/100. */
static inline int bench_chance(struct bench_rng *r, unsigned pct) {
    return bench_below(r, 100) < pct;
}

/* ---- stamping blocks: what the owner wrote must still be there when the block is freed ---- */

/*
 * A block as the benchmarks track it: address, requested size and a random stamp. The stamp
 * (mixed with address and size) goes into the first word (the first bytes if smaller) and a
 * byte of it into the last byte; if the allocator handed the same memory to someone else, the
 * later owner's stamp overwrites ours and the check fails.
 */
struct bench_block {
    void *p;
    uint32_t size;
    uint32_t stamp;
};

static inline uint64_t bench_stamp_value(const void *p, uint32_t size, uint32_t stamp) {
    return bench_mix((uint64_t)(uintptr_t)p ^ ((uint64_t)stamp << 32) ^ size);
}

static inline void bench_stamp(const struct bench_block *b) {
    uint64_t v = bench_stamp_value(b->p, b->size, b->stamp);
    unsigned char *c = b->p;
    if (b->size >= 8 && ((uintptr_t)c & 7) == 0) {
        *(uint64_t *)c = v;
    } else {
        for (uint32_t i = 0; i < b->size && i < 8; i++)
            c[i] = (unsigned char)(v >> (8 * i));
    }
    if (b->size > 8)
        c[b->size - 1] = (unsigned char)(v >> 56) ^ 0x5a;
}

/* 1 if the block still holds its stamp; else records a failure (naming `who`) and returns 0. */
static inline int bench_verify(const struct bench_block *b, const char *who) {
    uint64_t v = bench_stamp_value(b->p, b->size, b->stamp);
    const unsigned char *c = b->p;
    int ok = 1;
    if (b->size >= 8 && ((uintptr_t)c & 7) == 0) {
        ok = *(const uint64_t *)c == v;
    } else {
        for (uint32_t i = 0; i < b->size && i < 8; i++)
            ok &= c[i] == (unsigned char)(v >> (8 * i));
    }
    if (b->size > 8)
        ok &= c[b->size - 1] == ((unsigned char)(v >> 56) ^ 0x5a);
    if (!ok)
        bench_fail(BENCH_EXIT_CORRUPT, "%s: block %p (%u bytes) does not hold its stamp", who, b->p,
                   (unsigned)b->size);
    return ok;
}

/* Verify and free the block in a slot, leaving the slot empty: 1 (an op), or 0 when it was. */
static inline unsigned long bench_free_slot(struct bench_block *b, const char *who) {
    if (!b->p)
        return 0;
    bench_verify(b, who);
    uk_free(b->p);
    b->p = NULL;
    return 1;
}

/* ---- lists between harts: push by CAS, take everything by exchange (no ABA: pops are only
 * ever of the whole list) ---- */

struct bench_node {
    struct bench_node *next;
};

static inline void bench_push(struct bench_node **head, struct bench_node *n) {
    struct bench_node *old = __atomic_load_n(head, __ATOMIC_RELAXED);
    do
        n->next = old;
    while (!__atomic_compare_exchange_n(head, &old, n, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

static inline struct bench_node *bench_take_all(struct bench_node **head) {
    if (!__atomic_load_n(head, __ATOMIC_RELAXED))
        return NULL;
    return __atomic_exchange_n(head, NULL, __ATOMIC_ACQUIRE);
}

/* ---- the run ---- */

/* Hart 0 sets up the allocator and notes the free pages; then every hart meets at a barrier. */
static inline void bench_init(unsigned hart) {
    if (hart == 0) {
        if (alloc_init() != 0)
            bench_fail(BENCH_EXIT_INIT, "alloc_init failed");
        bench_state.pages_before = uk_pavailmem();
    }
    barrier_all();
}

/* The timing markers: zero-length writes that the host timestamps per hart. */
static inline void bench_marker(void) {
    write(1, "", 0);
}

static inline void bench_begin(void) {
    bench_marker();
}

/* End of the hart's timed part: marker, its ops added to the total, then a barrier. */
static inline void bench_end(unsigned long ops) {
    bench_marker();
    __atomic_fetch_add(&bench_state.ops, ops, __ATOMIC_RELAXED);
    barrier_all();
}

/*
 * After bench_end and the hart's untimed teardown: (with a frontend, every hart collects its
 * heap so that empty segments go back to the provider;) hart 0 checks page conservation, unless
 * the backend is region (it never takes pages back) or does not count pages, and prints the one
 * result line. Returns the exit code on hart 0, 0 on the others.
 */
static inline int bench_finish(unsigned hart, unsigned nharts, const char *name) {
    barrier_all();
#ifdef CONFIG_LIBMIMALLOC
    mi_collect();
    barrier_all();
#endif
    if (hart != 0)
        return 0;
#if UK_ALLOC_PROVIDER_HAS(UK_ALLOC_CAP_FREES_PAGES)
    long after = uk_pavailmem();
    if (!bench_failed() && bench_state.pages_before >= 0 && after != bench_state.pages_before)
        bench_fail(BENCH_EXIT_PAGES, "%ld free pages after the run, %ld before", after,
                   bench_state.pages_before);
#endif
    int code = __atomic_load_n(&bench_state.failed, __ATOMIC_ACQUIRE);
    if (code) {
        while (!__atomic_load_n(&bench_state.reason_ready, __ATOMIC_ACQUIRE))
            ;
        printf("bench %s: FAILED %s\n", name, bench_state.reason);
        return code;
    }
    printf("bench %s: harts=%u ops=%lu ok\n", name, nharts,
           __atomic_load_n(&bench_state.ops, __ATOMIC_RELAXED));
    return 0;
}

/* The app_main of a build without an allocator: say so (hart 0) and fail. */
static inline int bench_no_allocator(unsigned hart, const char *name) {
    if (hart == 0)
        printf("bench %s: FAILED no allocator in this build; use --config bbuddy-spin (or "
               "another allocator configuration)\n",
               name);
    return BENCH_EXIT_INIT;
}

#endif /* ALLOC_BENCH_H */
