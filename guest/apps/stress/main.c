/*
 * SMP stress of the allocator frontend, after mimalloc's test-stress: every hart makes
 * STRESS_STEPS random steps over its own STRESS_SLOTS slots. A step allocates a block of 2^k
 * words (k in [0, 5); one in STRESS_BIG_EVERY is 100 times larger) filled with a pattern, or
 * verifies a block's pattern and frees it, or (a quarter of the steps) swaps a slot with one of
 * the 1000 shared `stress_transfer` slots by atomic exchange, so blocks are freed by harts that
 * did not allocate them. Every STRESS_COLLECT steps (0: never) the hart collects its heap, so
 * segments are unmapped and mapped again. At the end everything is verified and freed, and the
 * frontend must hold no block and the provider all its pages (frontend_check.h).
 */
#include <alloc/alloc.h>
#include <rt/runtime.h>

#ifndef STRESS_STEPS
#define STRESS_STEPS 400
#endif
#ifndef STRESS_SLOTS
#define STRESS_SLOTS 32
#endif
#ifndef STRESS_BIG_EVERY
#define STRESS_BIG_EVERY 100
#endif
#ifndef STRESS_COLLECT
#define STRESS_COLLECT 0
#endif
#define STRESS_TRANSFER 1000

#ifndef CONFIG_LIBMIMALLOC
ALLOC_APP_NEEDS_FRONTEND("stress")
#else
#include <alloc/frontend_check.h>

#define COOKIE 0x5a17c0de1234abcdUL

/* In .data: zero all the same, but boot need not clear it (the emulator loads it for free). */
void *stress_transfer[STRESS_TRANSFER] __attribute__((section(".data.stress")));
long stress_pages_at_start;
unsigned long stress_bad;

/* Word 0: the length in words; word i: address ^ i ^ COOKIE, for every word of a small block
 * and every 16th word (and the last) of a big one, to keep big blocks cheap to check. */
static unsigned long stride(unsigned long words) {
    return words > 16 ? 16 : 1;
}

/* STRESS_TOLERATE_NULL=1: an allocation that fails (fault injection: --fail mmap:N) is
 * counted and skipped instead of ending the run; the end-of-run checks still apply. */
#ifndef STRESS_TOLERATE_NULL
#define STRESS_TOLERATE_NULL 0
#endif
static unsigned long stress_null;

static void *make_block(unsigned long words) {
    unsigned long *p = uk_malloc(words * sizeof(unsigned long));
    if (!p)
        return NULL;
    p[0] = words;
    for (unsigned long i = 1; i < words; i += stride(words))
        p[i] = (unsigned long)p ^ i ^ COOKIE;
    if (words > 1)
        p[words - 1] = (unsigned long)p ^ (words - 1) ^ COOKIE;
#ifdef STRESS_TRACE
    printf("h%u alloc %p %lu\n", hart_id(), p, words);
#endif
    return p;
}

static int check_and_free(unsigned long *p) {
    if (!p)
        return 0;
    unsigned long words = p[0];
    int ok = words >= 1 && words <= 16UL * 100;
    for (unsigned long i = 1; ok && i < words; i += stride(words))
        ok = p[i] == ((unsigned long)p ^ i ^ COOKIE);
    ok = ok && (words == 1 || p[words - 1] == ((unsigned long)p ^ (words - 1) ^ COOKIE));
    if (!ok) {
        printf("FAIL stress: hart %u: block %p (%lu words) corrupted\n", hart_id(), p, words);
        __atomic_fetch_add(&stress_bad, 1, __ATOMIC_RELAXED);
        return 1;
    }
#ifdef STRESS_TRACE
    printf("h%u free %p %lu\n", hart_id(), p, words);
#endif
    uk_free(p);
    return 0;
}

int app_main(unsigned hart, unsigned nharts) {
    void *slots[STRESS_SLOTS] = {0};
    unsigned long rng = 0x9E3779B97F4A7C15UL * (hart + 1);
    if (hart == 0) {
        if (alloc_init() != 0)
            return 1;
        stress_pages_at_start = uk_pavailmem();
    }
    barrier_all();
    for (unsigned step = 0; step < STRESS_STEPS; step++) {
        unsigned long r = rt_xorshift64(&rng);
        unsigned i = (unsigned)(r >> 8) % STRESS_SLOTS;
        if ((r & 3) == 0) {
            unsigned j = (unsigned)(r >> 24) % STRESS_TRANSFER;
            slots[i] = __atomic_exchange_n(&stress_transfer[j], slots[i], __ATOMIC_ACQ_REL);
        } else if (!slots[i]) {
            unsigned long words = 1UL << ((r >> 32) % 5);
            if ((r >> 40) % STRESS_BIG_EVERY == 0)
                words *= 100;
            slots[i] = make_block(words);
            if (!slots[i] && STRESS_TOLERATE_NULL) {
                __atomic_fetch_add(&stress_null, 1, __ATOMIC_RELAXED);
            } else if (!slots[i]) {
                printf("FAIL stress: hart %u: out of memory\n", hart);
                exit(2); /* at once: the other harts would wait for this one at a barrier */
            }
        } else {
            if (check_and_free(slots[i]))
                exit(3);
            slots[i] = NULL;
        }
        if (STRESS_COLLECT && step % (STRESS_COLLECT ? STRESS_COLLECT : 1) == 0)
            mi_collect();
    }
    for (unsigned i = 0; i < STRESS_SLOTS; i++)
        if (check_and_free(slots[i]))
            exit(3);
    barrier_all();
    for (unsigned j = hart; j < STRESS_TRANSFER; j += nharts)
        if (check_and_free(stress_transfer[j]))
            exit(3);
    int rc = frontend_check_end(hart, stress_pages_at_start);
    if (hart == 0 && stress_null)
        printf("stress: %lu allocations returned NULL (tolerated)\n", stress_null);
    if (hart == 0 && !rc)
        printf("stress: PASS (%u harts, %d steps, %d slots)\n", nharts, STRESS_STEPS, STRESS_SLOTS);
    return rc;
}
#endif
