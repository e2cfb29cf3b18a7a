/*
 * Producers and consumers over the allocator frontend: the first half of the harts (rounded
 * up) only allocate, the others only free. Producer p fills PC_ITEMS blocks (three in four of
 * 1 KiB, the others 8..512 B, one in PC_BIG_EVERY above the small-size limit) with a pattern
 * naming it and the item, and passes each through its own single-producer single-consumer ring
 * (PC_RING slots, lock-free) to consumer nprod + p % ncons, which verifies and frees it: every free
 * is a remote free, and the producers' full pages come back through the delayed-free path. With one
 * hart, it does both, a ring at a time. At the end the frontend must hold no block and the provider
 * all its pages (frontend_check.h).
 */
#include <alloc/alloc.h>
#include <rt/runtime.h>

#ifndef PC_ITEMS
#define PC_ITEMS 200
#endif
#ifndef PC_RING
#define PC_RING 64
#endif
#ifndef PC_BIG_EVERY
#define PC_BIG_EVERY 50
#endif

#ifndef CONFIG_LIBMIMALLOC
ALLOC_APP_NEEDS_FRONTEND("prodcons")
#else
#include <alloc/frontend_check.h>

/* One ring per producer: head is written by the producer only, tail by the consumer only. */
struct ring {
    unsigned long head;
    unsigned long tail;
    unsigned long *slot[PC_RING];
} __attribute__((aligned(64)));

/* In .data: zero all the same, but boot need not clear it (the emulator loads it for free). */
struct ring pc_rings[MAX_HARTS] __attribute__((section(".data.prodcons")));
long pc_pages_at_start;

static size_t item_size(unsigned producer, unsigned i) {
    if (i % PC_BIG_EVERY == PC_BIG_EVERY - 1)
        return 3000 + 8 * i;
    if (i % 4)
        return 1024; /* most in one class: its pages fill up (16 blocks) and go to heap->full */
    return 8 + ((i * 37 + producer * 11) % 64) * 8; /* 8 .. 512 bytes */
}

static unsigned long pattern(unsigned producer, unsigned i, unsigned long w) {
    return ((unsigned long)producer << 48) ^ ((unsigned long)i << 20) ^ w;
}

static unsigned long *produce(unsigned producer, unsigned i) {
    size_t words = item_size(producer, i) / 8;
    unsigned long *p = uk_malloc(words * 8);
    if (!p)
        return NULL;
    for (size_t w = 0; w < words; w += (words > 64 ? 16 : 1))
        p[w] = pattern(producer, i, w);
    p[words - 1] = pattern(producer, i, words - 1);
    return p;
}

static int consume(unsigned producer, unsigned i, unsigned long *p) {
    size_t words = item_size(producer, i) / 8;
    int ok = p[words - 1] == pattern(producer, i, words - 1);
    for (size_t w = 0; ok && w < words; w += (words > 64 ? 16 : 1))
        ok = p[w] == pattern(producer, i, w);
    if (!ok) {
        printf("FAIL prodcons: hart %u: item %u of producer %u corrupted (%p)\n", hart_id(), i,
               producer, p);
        return 1;
    }
    uk_free(p);
    return 0;
}

static int ring_put(struct ring *r, unsigned long *p) {
    unsigned long head = r->head;
    if (head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) == PC_RING)
        return 0;
    r->slot[head % PC_RING] = p;
    __atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
    return 1;
}

/* Take an item only from a full ring (or the producer's last ones): consumers lag PC_RING items
 * behind, so a producer's pages fill up before their blocks come back. */
static unsigned long *ring_get(struct ring *r, int lag) {
    unsigned long tail = r->tail, head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
    if (head == tail || (lag && head - tail < PC_RING && head < PC_ITEMS))
        return NULL;
    unsigned long *p = r->slot[tail % PC_RING];
    __atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
    return p;
}

int app_main(unsigned hart, unsigned nharts) {
    unsigned nprod = (nharts + 1) / 2, ncons = nharts - nprod;
    if (hart == 0) {
        if (alloc_init() != 0)
            return 1;
        pc_pages_at_start = uk_pavailmem();
    }
    barrier_all();
    if (ncons == 0) {
        /* One hart: fill the ring, drain it, and again. */
        for (unsigned i = 0; i < PC_ITEMS;) {
            unsigned first = i;
            for (; i < PC_ITEMS; i++) {
                unsigned long *p = produce(0, i);
                if (!p)
                    exit(2);
                if (!ring_put(&pc_rings[0], p)) {
                    uk_free(p);
                    break;
                }
            }
            for (unsigned k = first; k < i; k++)
                if (consume(0, k, ring_get(&pc_rings[0], 0)))
                    exit(3);
        }
    } else if (hart < nprod) {
        for (unsigned i = 0; i < PC_ITEMS; i++) {
            unsigned long *p = produce(hart, i);
            if (!p) {
                printf("FAIL prodcons: hart %u: out of memory\n", hart);
                exit(2); /* at once: the other harts would wait for this one */
            }
            while (!ring_put(&pc_rings[hart], p))
                ;
        }
    } else {
        unsigned seen[MAX_HARTS] = {0}, left = 0;
        for (unsigned p = hart - nprod; p < nprod; p += ncons)
            left += PC_ITEMS;
        while (left)
            for (unsigned p = hart - nprod; p < nprod; p += ncons) {
                unsigned long *item = ring_get(&pc_rings[p], 1);
                if (!item)
                    continue;
                if (consume(p, seen[p]++, item))
                    exit(3);
                left--;
            }
    }
    int rc = frontend_check_end(hart, pc_pages_at_start);
    if (hart == 0 && !rc)
        printf("prodcons: PASS (%u producers, %u consumers, %d items each)\n", nprod, ncons,
               PC_ITEMS);
    return rc;
}
#endif
