/*
 * Binary buddy page allocator, after the design of Unikraft's ukallocbbuddy (our own code).
 *
 * A block of order k is 2^k pages, aligned to its own size. Free blocks sit on one doubly linked
 * list per order, with the list node written into the block's first page. Each region added by
 * addmem starts with its metadata (struct bb_region and a bitmap, one bit per page, set =
 * allocated or not yet on a list) followed by the pages it manages.
 *
 * palloc takes the first block of the smallest non-empty order >= the request, pushes the upper
 * halves it does not need onto the lower lists, and marks the rest allocated. pfree merges the
 * block with its buddy (the neighbour differing in bit k of the page address) while that buddy
 * is a whole free block of the same order, then pushes the result.
 *
 * Invariants (each relied on where it is asserted or noted):
 *  - a block is on list k iff its node says BB_LISTED(k); that word changes only under the
 *    order-k lock (push, pop, unlink), so a hart holding the lock can trust it;
 *  - a listed block's bits are all clear; the bits of a block being freed are cleared only after
 *    it is linked, under the same lock, so a buddy check never sees clear bits in front of a
 *    stale node;
 *  - free + listed pages + allocated pages = region pages; nr_free_pages counts listed pages
 *    once every operation has finished.
 * Locking is lock_policy.h's business; this file calls its hooks.
 */
#include <alloc/alloc.h>
#include <alloc/bbuddy.h>
#include <alloc/ifpages.h>
#include <rt/runtime.h>

/* 2^31 pages of 4 KiB are 8 TiB: more than any guest RAM, and a short scan per palloc. */
#define BB_ORDERS 32
#define LOCK_POLICY_ORDERS BB_ORDERS
#include "lock_policy.h"

#define BITS_PER_WORD (8 * sizeof(unsigned long))

/*
 * Planted bugs for showing the host's allocation oracle at work (lib/ukalloc/README.md).
 * ALLOC_BUG is undefined by default, and then nothing below changes the allocator.
 *   overlap     the 3rd palloc that finds a block hands it out but leaves it listed and free,
 *               so the next palloc of that size returns the same pages again;
 *   lost_pages  pfree of a block of 2 or more pages (order >= 1) never lists it again;
 *   palloc_nolock  palloc takes none of its locks (a lock left out: races with other
 *               pallocs and pfrees, found by schedule exploration).
 * (ALLOC_BUG=misalign is ifpages.c's.)
 */
#define BB_BUG(name) ALLOC_BUG_IS(name)

/* A node word that user data is unlikely to contain by accident; the low byte is the order. */
#define BB_LISTED_TAG 0xb0dd1e5eed000000UL
#define BB_LISTED(order) (BB_LISTED_TAG | (unsigned long)(order))

/* Written at the start of every free block on a list. */
struct bb_node {
    struct bb_node *next;
    struct bb_node **pprev; /* the pointer that points at this node: O(1) unlink */
    unsigned long state;    /* BB_LISTED(order) while listed, 0 otherwise */
};

/* The head of each region added by addmem; its bitmap follows it. */
struct bb_region {
    struct bb_region *next;
    uintptr_t first_page; /* address of the first managed page */
    unsigned long nr_pages;
    unsigned long *bitmap;
};

struct bbuddy {
    struct uk_alloc a; /* first: the uk_alloc pointer is the bbuddy pointer */
    struct bb_node *free_head[BB_ORDERS];
    struct bb_region *regions; /* pushed at the head, never removed: read without locks */
    unsigned long nr_free_pages;
    struct lock_policy lock;
};

_Static_assert(sizeof(struct bbuddy) <= PAGE_SIZE, "the allocator takes one page");

const char uk_allocbbuddy_name[] = "bbuddy-" ALLOC_STR(ALLOC_LOCK);

static struct bbuddy *to_bbuddy(struct uk_alloc *a) {
    return (struct bbuddy *)a;
}

/* Order of the smallest block holding num_pages pages; BB_ORDERS when there is none. */
static unsigned order_for(unsigned long num_pages) {
    if (num_pages == 0 || num_pages > (1UL << (BB_ORDERS - 1)))
        return BB_ORDERS;
    return num_pages == 1 ? 0 : (unsigned)(64 - __builtin_clzl(num_pages - 1));
}

/* ---- regions and the bitmap ---- */

static struct bb_region *region_of(struct bbuddy *b, uintptr_t addr) {
    for (struct bb_region *r = __atomic_load_n(&b->regions, __ATOMIC_ACQUIRE); r; r = r->next)
        if (addr >= r->first_page && addr - r->first_page < r->nr_pages << PAGE_SHIFT)
            return r;
    return NULL;
}

static int region_holds(const struct bb_region *r, uintptr_t addr, unsigned order) {
    uintptr_t end = r->first_page + (r->nr_pages << PAGE_SHIFT);
    return addr >= r->first_page && addr < end && (end - addr) >> PAGE_SHIFT >= 1UL << order;
}

static unsigned long page_index(const struct bb_region *r, uintptr_t addr) {
    return (addr - r->first_page) >> PAGE_SHIFT;
}

static int page_allocated(const struct bb_region *r, uintptr_t addr) {
    unsigned long i = page_index(r, addr);
    return (lp_bits_load(&r->bitmap[i / BITS_PER_WORD]) >> (i % BITS_PER_WORD)) & 1;
}

/* Set or clear the bits of 2^order pages from addr, one word (one amo if atomic) at a time. */
static void mark_block(const struct bb_region *r, uintptr_t addr, unsigned order, int allocated) {
    unsigned long i = page_index(r, addr), n = 1UL << order;
    while (n) {
        unsigned long bit = i % BITS_PER_WORD;
        unsigned long run = BITS_PER_WORD - bit < n ? BITS_PER_WORD - bit : n;
        unsigned long mask = run == BITS_PER_WORD ? ~0UL : ((1UL << run) - 1) << bit;
        if (allocated)
            lp_bits_set(&r->bitmap[i / BITS_PER_WORD], mask);
        else
            lp_bits_clear(&r->bitmap[i / BITS_PER_WORD], mask);
        i += run;
        n -= run;
    }
}

/* ---- free lists (caller holds the order's lock) ---- */

static void list_push(struct bbuddy *b, uintptr_t addr, unsigned order) {
    struct bb_node *node = (struct bb_node *)addr, *head = b->free_head[order];
    node->next = head;
    node->pprev = &b->free_head[order];
    if (head)
        head->pprev = &node->next;
    b->free_head[order] = node;
    node->state = BB_LISTED(order);
}

static void list_unlink(struct bb_node *node, unsigned order) {
    ALLOC_ASSERT(node->state == BB_LISTED(order));
    *node->pprev = node->next;
    if (node->next)
        node->next->pprev = node->pprev;
    node->state = 0;
}

/* ---- pages ---- */

/* palloc's lock calls: left out with ALLOC_BUG=palloc_nolock. */
#if BB_BUG(palloc_nolock)
#define palloc_lock(call) ((void)0)
#else
#define palloc_lock(call) call
#endif

static void *bbuddy_palloc(struct uk_alloc *a, unsigned long num_pages) {
    struct bbuddy *b = to_bbuddy(a);
    unsigned order = order_for(num_pages), k;
    struct bb_node *node = NULL;
    if (order >= BB_ORDERS)
        return NULL;

    palloc_lock(lp_whole_lock(&b->lock));
    for (k = order; k < BB_ORDERS && !node; k++) {
        palloc_lock(lp_order_lock(&b->lock, k));
        node = b->free_head[k];
        if (node)
            list_unlink(node, k);
        palloc_lock(lp_order_unlock(&b->lock, k));
    }
    if (!node) {
        palloc_lock(lp_whole_unlock(&b->lock));
        return NULL;
    }
    /* node is order k - 1 and now ours alone; give back the halves we do not need. */
    uintptr_t addr = (uintptr_t)node;
    for (k--; k > order; k--) {
        palloc_lock(lp_order_lock(&b->lock, k - 1));
        list_push(b, addr + (PAGE_SIZE << (k - 1)), k - 1);
        palloc_lock(lp_order_unlock(&b->lock, k - 1));
    }
#if BB_BUG(overlap)
    static unsigned long planted_pallocs;
    if (__atomic_add_fetch(&planted_pallocs, 1, __ATOMIC_RELAXED) == 3) {
        lp_order_lock(&b->lock, order); /* listed, bits clear, still counted free */
        list_push(b, addr, order);
        lp_order_unlock(&b->lock, order);
        palloc_lock(lp_whole_unlock(&b->lock));
        return (void *)addr;
    }
#endif
    struct bb_region *r = region_of(b, addr);
    ALLOC_ASSERT(r && region_holds(r, addr, order));
    ALLOC_ASSERT(!page_allocated(r, addr));
    mark_block(r, addr, order, 1);
    lp_counter_add(&b->nr_free_pages, -(long)(1UL << order));
    palloc_lock(lp_whole_unlock(&b->lock));
    return (void *)addr;
}

/* Merge [addr, 2^order pages) with free buddies and list it. Whole lock held by the caller. */
static void free_block(struct bbuddy *b, struct bb_region *r, uintptr_t addr, unsigned order) {
    unsigned k = order;
    for (;;) {
        uintptr_t buddy = addr ^ (PAGE_SIZE << k);
        lp_order_lock(&b->lock, k);
        if (k + 1 < BB_ORDERS && region_holds(r, buddy, k) && !page_allocated(r, buddy) &&
            ((struct bb_node *)buddy)->state == BB_LISTED(k)) {
            list_unlink((struct bb_node *)buddy, k);
            lp_order_unlock(&b->lock, k);
            addr = addr < buddy ? addr : buddy;
            k++;
            continue;
        }
        list_push(b, addr, k);
        mark_block(r, addr, k, 0);
        lp_order_unlock(&b->lock, k);
        break;
    }
    lp_counter_add(&b->nr_free_pages, (long)(1UL << order));
}

static void bbuddy_pfree(struct uk_alloc *a, void *ptr, unsigned long num_pages) {
    struct bbuddy *b = to_bbuddy(a);
    uintptr_t addr = (uintptr_t)ptr;
    unsigned order = order_for(num_pages);
    if (!ptr)
        return;
    ALLOC_ASSERT(order < BB_ORDERS);
    ALLOC_ASSERT((addr & ((PAGE_SIZE << order) - 1)) == 0); /* a block of that order */
    struct bb_region *r = region_of(b, addr);
    ALLOC_ASSERT(r && region_holds(r, addr, order));
    lp_whole_lock(&b->lock);
    ALLOC_ASSERT(page_allocated(r, addr)); /* double free, or a foreign pointer */
#if BB_BUG(lost_pages)
    if (order >= 1) { /* never listed, bits left set, not counted free: the pages are lost */
        lp_whole_unlock(&b->lock);
        return;
    }
#endif
    free_block(b, r, addr, order);
    lp_whole_unlock(&b->lock);
}

static long bbuddy_pavailmem(struct uk_alloc *a) {
    return (long)__atomic_load_n(&to_bbuddy(a)->nr_free_pages, __ATOMIC_RELAXED);
}

/* A snapshot without locks: under SMP the answer may be stale as soon as it is returned. */
static long bbuddy_pmaxalloc(struct uk_alloc *a) {
    struct bbuddy *b = to_bbuddy(a);
    for (int k = BB_ORDERS - 1; k >= 0; k--)
        if (__atomic_load_n(&b->free_head[k], __ATOMIC_RELAXED))
            return 1L << k;
    return 0;
}

/*
 * The region's metadata takes its first pages; the rest is cut greedily from the bottom into
 * the largest blocks that are aligned to their size and fit.
 */
static int bbuddy_addmem(struct uk_alloc *a, void *base, size_t len) {
    struct bbuddy *b = to_bbuddy(a);
    uintptr_t start = alloc_align_up((uintptr_t)base, PAGE_SIZE);
    uintptr_t end = ((uintptr_t)base + len) & ~(PAGE_SIZE - 1);
    if ((uintptr_t)base + len < (uintptr_t)base || end <= start)
        return -ERRNO_EINVAL;
    unsigned long pages = (end - start) >> PAGE_SHIFT;
    size_t bitmap_bytes = (pages + BITS_PER_WORD - 1) / BITS_PER_WORD * sizeof(unsigned long);
    unsigned long meta_pages =
        (sizeof(struct bb_region) + bitmap_bytes + PAGE_SIZE - 1) >> PAGE_SHIFT;
    if (pages <= meta_pages)
        return -ERRNO_EINVAL;

    struct bb_region *r = (struct bb_region *)start;
    r->bitmap = (unsigned long *)(r + 1);
    r->first_page = start + (meta_pages << PAGE_SHIFT);
    r->nr_pages = pages - meta_pages;
    memset(r->bitmap, 0xff, bitmap_bytes); /* allocated until listed below */

    lp_whole_lock(&b->lock);
    lp_addmem_lock(&b->lock);
    r->next = b->regions;
    __atomic_store_n(&b->regions, r, __ATOMIC_RELEASE);
    lp_addmem_unlock(&b->lock);

    uintptr_t addr = r->first_page;
    while (addr < end) {
        unsigned order = 0;
        while (order + 1 < BB_ORDERS && (addr & ((PAGE_SIZE << (order + 1)) - 1)) == 0 &&
               (end - addr) >> PAGE_SHIFT >= 2UL << order)
            order++;
        free_block(b, r, addr, order);
        addr += PAGE_SIZE << order;
    }
    lp_whole_unlock(&b->lock);
    return 0;
}

/* The allocator's own state takes the first page of the heap; addmem gets the rest. */
struct uk_alloc *uk_allocbbuddy_init(void *base, size_t len) {
    uintptr_t start = alloc_align_up((uintptr_t)base, PAGE_SIZE);
    uintptr_t end = (uintptr_t)base + len;
    if (end < start + 2 * PAGE_SIZE)
        return NULL;
    struct bbuddy *b = (struct bbuddy *)start;
    memset(b, 0, sizeof(*b));
    b->a.palloc = bbuddy_palloc;
    b->a.pfree = bbuddy_pfree;
    b->a.pavailmem = bbuddy_pavailmem;
    b->a.pmaxalloc = bbuddy_pmaxalloc;
    b->a.addmem = bbuddy_addmem;
    b->a.stats = alloc_stats_snapshot;
    ifpages_install(&b->a);
    if (bbuddy_addmem(&b->a, (void *)(start + PAGE_SIZE), end - start - PAGE_SIZE))
        return NULL;
    return &b->a;
}
