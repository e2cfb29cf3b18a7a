/*
 * Lock-free binary buddy page allocator after the idea of NBBS, the non-blocking buddy system
 * (Marotta et al., CCGrid 2019): no free lists and no locks, only a complete binary tree of
 * one-byte node states changed by compare-and-swap (LR/SC) and fetch-or (amoor). Our own code.
 *
 * Each region given to addmem gets a tree. The tree covers a power-of-two span of 2^depth
 * pages aligned to its own size (so every block is aligned to its size, as in bbuddy); node 1
 * is the root, node n has children 2n and 2n+1, and a node at depth d stands for the block of
 * 2^(depth-d) pages at its position. Pages of the span outside the region (and the region's
 * own metadata pages) are allocated at init as the largest blocks that fit, and never freed.
 *
 * Node state bits:
 *   NB_OCC            the whole block of this node is allocated (set with NB_OCC_L|NB_OCC_R);
 *   NB_OCC_L/_R       some allocation lies in the left/right child's subtree;
 *   NB_COAL_L/_R      a release in the left/right subtree is climbing through this node.
 * Only an allocated node and its ancestors are marked; the descendants of an allocated node
 * stay 0, so an allocation of a node must check on its way up that no ancestor is NB_OCC.
 *
 * palloc(order): a depth-first search for a node at depth (depth - order) with state 0, pruning
 * NB_OCC subtrees; then try_alloc: CAS the node 0 -> NB_BUSY (the claim), then climb to the root,
 * in each ancestor CAS-setting the OCC bit of the side we come from and clearing its COAL bit.
 * Meeting an NB_OCC ancestor means a larger block containing ours was taken first: undo our
 * marks (free_node up to that ancestor's child) and resume the search beside that ancestor.
 *
 * pfree: (1) fetch-or the COAL bit of our side into each ancestor, stopping at the first one
 * whose other side is allocated and not itself coalescing (nothing merges past it); (2) store 0
 * into the node (the block is free from here on); (3) climb again clearing our side's OCC and
 * COAL bits by CAS, but only while our COAL bit is still set (an allocation that came through
 * cleared it and now owns the mark) and while the node's other side is free.
 * README.md ("Design") argues why this is lock-free and linearizable.
 */
#include <alloc/alloc.h>
#include <alloc/ifpages.h>
#include <alloc/nbbs.h>
#include <rt/runtime.h>

#define NB_OCC 0x01u
#define NB_OCC_L 0x02u
#define NB_OCC_R 0x04u
#define NB_COAL_L 0x08u
#define NB_COAL_R 0x10u
#define NB_BUSY (NB_OCC | NB_OCC_L | NB_OCC_R)

#define NB_MAX_DEPTH 40 /* 2^40 pages: more than any guest RAM */
#define NB_MAX_TREES 16 /* regions (the init one + addmem calls) */

/* At the start of every region; the node array follows it. Read-only once published. */
struct nb_tree {
    uintptr_t base; /* first page of the span, aligned to 2^depth pages */
    uintptr_t lo;   /* first page handed out (after this metadata) */
    uintptr_t hi;   /* end of the region */
    unsigned depth; /* leaves are at this depth; the root block is 2^depth pages */
    uint8_t node[]; /* node[1 .. 2^(depth+1) - 1] */
};

struct nbbs {
    struct uk_alloc a;                   /* first: the uk_alloc pointer is the nbbs pointer */
    struct nb_tree *trees[NB_MAX_TREES]; /* slots claimed by CAS, never emptied */
    unsigned long nr_free_pages;         /* exact once every operation has finished */
};

static struct nbbs nbbs_state;

const char uk_allocnbbs_name[] = "bbuddy-lockfree";

static struct nbbs *to_nbbs(struct uk_alloc *a) {
    return (struct nbbs *)a;
}

static unsigned depth_of(unsigned long n) {
    return (unsigned)(63 - __builtin_clzl(n));
}

static unsigned order_for(unsigned long num_pages) {
    if (num_pages == 0 || num_pages > (1UL << NB_MAX_DEPTH))
        return NB_MAX_DEPTH + 1;
    return num_pages == 1 ? 0 : (unsigned)(64 - __builtin_clzl(num_pages - 1));
}

static uint8_t occ_bit(unsigned long child) {
    return child & 1 ? NB_OCC_R : NB_OCC_L;
}
static uint8_t coal_bit(unsigned long child) {
    return child & 1 ? NB_COAL_R : NB_COAL_L;
}
/* The sibling's side of the parent is allocated / releasing. */
static int occ_buddy(uint8_t s, unsigned long child) {
    return s & occ_bit(child ^ 1);
}
static int coal_buddy(uint8_t s, unsigned long child) {
    return s & coal_bit(child ^ 1);
}

static uint8_t load(struct nb_tree *t, unsigned long n) {
    return __atomic_load_n(&t->node[n], __ATOMIC_SEQ_CST);
}
static int cas(struct nb_tree *t, unsigned long n, uint8_t *old, uint8_t new) {
    return __atomic_compare_exchange_n(&t->node[n], old, new, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

/* ---- release (also the undo of a failed claim) ---- */

/* Step (3): clear our side's marks from n's parent up to top, as described above. */
static void unmark(struct nb_tree *t, unsigned long n, unsigned long top) {
    unsigned long cur = n, child;
    uint8_t old, new;
    do {
        child = cur;
        cur >>= 1;
        old = load(t, cur);
        do {
            if (!(old & coal_bit(child)))
                return; /* an allocation came through: the marks above are its own now */
            new = old & (uint8_t)~(occ_bit(child) | coal_bit(child));
        } while (!cas(t, cur, &old, new));
    } while (cur != top && !occ_buddy(new, child));
}

/* Release node n, which we own (NB_BUSY), whose marks reach up to node top (an ancestor or n). */
static void free_node(struct nb_tree *t, unsigned long n, unsigned long top) {
    for (unsigned long runner = n; runner != top; runner >>= 1) {
        uint8_t old = __atomic_fetch_or(&t->node[runner >> 1], coal_bit(runner), __ATOMIC_SEQ_CST);
        if (occ_buddy(old, runner) && !coal_buddy(old, runner))
            break;
    }
    __atomic_store_n(&t->node[n], 0, __ATOMIC_SEQ_CST);
    if (n != top)
        unmark(t, n, top);
}

/* ---- allocation ---- */

/* Claim node n and mark its ancestors: 0 on success, else the node that stood in the way. */
static unsigned long try_alloc(struct nb_tree *t, unsigned long n) {
    uint8_t old = 0;
#if ALLOC_BUG_IS(claim_plain) /* planted bug: the claim as a load, a test and a store */
    if (load(t, n) != 0)
        return n;
    __atomic_store_n(&t->node[n], NB_BUSY, __ATOMIC_RELAXED);
#else
    if (!cas(t, n, &old, NB_BUSY))
        return n;
#endif
    for (unsigned long cur = n, child; cur > 1;) {
        child = cur;
        cur >>= 1;
        old = load(t, cur);
#if ALLOC_BUG_IS(climb_once) /* planted bug: one CAS per ancestor, its failure ignored */
        if (old & NB_OCC) {
            free_node(t, n, child);
            return cur;
        }
        cas(t, cur, &old, (uint8_t)((old & ~coal_bit(child)) | occ_bit(child)));
#else
        do {
            if (old & NB_OCC) {
                free_node(t, n, child); /* a larger block holding ours was taken */
                return cur;
            }
        } while (!cas(t, cur, &old, (uint8_t)((old & ~coal_bit(child)) | occ_bit(child))));
#endif
    }
    return 0;
}

/*
 * Depth-first search under node n (at depth dn) for a free node at depth d, and claim it.
 * Returns the claimed node (> 0), 0 when there is none under n, or -m when a claim failed on
 * an allocated ancestor m: the frames up to m's give up at once.
 */
static long search(struct nb_tree *t, unsigned long n, unsigned dn, unsigned d, unsigned hart) {
    uint8_t s = load(t, n);
    if (s & NB_OCC)
        return 0;
    if (dn == d) {
        if (s)
            return 0;
        unsigned long r = try_alloc(t, n);
        return r == 0 ? (long)n : r == n ? 0 : -(long)r;
    }
    /* Harts start on different sides near the root, to spread their CASes. */
    unsigned long first = 2 * n + ((hart >> dn) & 1);
    for (int i = 0; i < 2; i++) {
        long r = search(t, first ^ (unsigned long)i, dn + 1, d, hart);
        if (r > 0)
            return r;
        if (r < 0)
            return (unsigned long)-r == n ? 0 : r;
    }
    return 0;
}

static uintptr_t node_addr(struct nb_tree *t, unsigned long n) {
    unsigned d = depth_of(n);
    return t->base + ((n - (1UL << d)) << (t->depth - d + PAGE_SHIFT));
}

static void *nbbs_palloc(struct uk_alloc *a, unsigned long num_pages) {
    struct nbbs *b = to_nbbs(a);
    unsigned order = order_for(num_pages);
    for (unsigned i = 0; i < NB_MAX_TREES && order <= NB_MAX_DEPTH; i++) {
        struct nb_tree *t = __atomic_load_n(&b->trees[i], __ATOMIC_ACQUIRE);
        if (!t)
            break;
        if (order > t->depth)
            continue;
        long n = search(t, 1, 0, t->depth - order, hart_id());
        if (n > 0) {
            __atomic_fetch_sub(&b->nr_free_pages, 1UL << order, __ATOMIC_RELAXED);
            return (void *)node_addr(t, (unsigned long)n);
        }
    }
    return NULL;
}

static void nbbs_pfree(struct uk_alloc *a, void *ptr, unsigned long num_pages) {
    struct nbbs *b = to_nbbs(a);
    uintptr_t addr = (uintptr_t)ptr;
    unsigned order = order_for(num_pages);
    struct nb_tree *t = NULL;
    if (!ptr)
        return;
    for (unsigned i = 0; i < NB_MAX_TREES && !t; i++) {
        t = __atomic_load_n(&b->trees[i], __ATOMIC_ACQUIRE);
        if (!t)
            break;
        if (addr < t->lo || addr >= t->hi)
            t = NULL;
    }
    ALLOC_ASSERT(t != NULL); /* a foreign pointer */
    ALLOC_ASSERT(order <= t->depth);
    ALLOC_ASSERT((addr & ((PAGE_SIZE << order) - 1)) == 0); /* a block of that order */
    unsigned long n = (1UL << (t->depth - order)) + ((addr - t->base) >> (PAGE_SHIFT + order));
    ALLOC_ASSERT(load(t, n) & NB_OCC); /* else a double free, or the wrong size */
    __atomic_fetch_add(&b->nr_free_pages, 1UL << order, __ATOMIC_RELAXED);
    free_node(t, n, 1);
}

static long nbbs_pavailmem(struct uk_alloc *a) {
    return (long)__atomic_load_n(&to_nbbs(a)->nr_free_pages, __ATOMIC_RELAXED);
}

/* Pages of the largest free block under node n (depth dn); a snapshot, stale under SMP. */
static unsigned long max_free(struct nb_tree *t, unsigned long n, unsigned dn) {
    uint8_t s = load(t, n);
    if (s == 0)
        return 1UL << (t->depth - dn);
    if ((s & NB_OCC) || dn == t->depth)
        return 0;
    if (!(s & NB_OCC_L) || !(s & NB_OCC_R))
        return 1UL << (t->depth - dn - 1);
    unsigned long l = max_free(t, 2 * n, dn + 1), r = max_free(t, 2 * n + 1, dn + 1);
    return l > r ? l : r;
}

static long nbbs_pmaxalloc(struct uk_alloc *a) {
    struct nbbs *b = to_nbbs(a);
    unsigned long best = 0;
    for (unsigned i = 0; i < NB_MAX_TREES; i++) {
        struct nb_tree *t = __atomic_load_n(&b->trees[i], __ATOMIC_ACQUIRE);
        if (!t)
            break;
        unsigned long m = max_free(t, 1, 0);
        best = m > best ? m : best;
    }
    return (long)best;
}

/* ---- regions ---- */

/* Before publication: allocate [from, to) of the span for good, as the largest aligned blocks. */
static void reserve(struct nb_tree *t, uintptr_t from, uintptr_t to) {
    unsigned long p = (from - t->base) >> PAGE_SHIFT, end = (to - t->base) >> PAGE_SHIFT;
    while (p < end) {
        unsigned k = 0;
        while (k < t->depth && !(p & ((2UL << k) - 1)) && end - p >= 2UL << k)
            k++;
        unsigned long n = (1UL << (t->depth - k)) + (p >> k);
        t->node[n] = NB_BUSY;
        for (; n > 1; n >>= 1)
            t->node[n >> 1] |= occ_bit(n);
        p += 1UL << k;
    }
}

/*
 * The tree and its header go at the start of [base, base + len); its span is the smallest
 * aligned power of two of pages covering the region. Up to NB_MAX_TREES regions in all; more
 * (or a range too small for its own metadata) get -ERRNO_EINVAL.
 */
static int nbbs_addmem(struct uk_alloc *a, void *base, size_t len) {
    struct nbbs *b = to_nbbs(a);
    uintptr_t start = alloc_align_up((uintptr_t)base, PAGE_SIZE);
    uintptr_t end = ((uintptr_t)base + len) & ~(PAGE_SIZE - 1);
    if ((uintptr_t)base + len < (uintptr_t)base || end <= start)
        return -ERRNO_EINVAL;
    unsigned depth = 0;
    uintptr_t span_base = start;
    for (;; depth++) {
        if (depth > NB_MAX_DEPTH)
            return -ERRNO_EINVAL;
        uintptr_t size = PAGE_SIZE << depth;
        span_base = start & ~(size - 1);
        if (end - span_base <= size)
            break;
    }
    size_t meta = sizeof(struct nb_tree) + (2UL << depth);
    uintptr_t lo = alloc_align_up(start + meta, PAGE_SIZE);
    if (lo >= end)
        return -ERRNO_EINVAL;

    struct nb_tree *t = (struct nb_tree *)start;
    t->base = span_base;
    t->lo = lo;
    t->hi = end;
    t->depth = depth;
    memset(t->node, 0, 2UL << depth);
    reserve(t, span_base, lo);
    reserve(t, end, span_base + (PAGE_SIZE << depth));

    for (unsigned i = 0; i < NB_MAX_TREES; i++) {
        struct nb_tree *none = NULL;
        if (__atomic_compare_exchange_n(&b->trees[i], &none, t, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED)) {
            __atomic_fetch_add(&b->nr_free_pages, (end - lo) >> PAGE_SHIFT, __ATOMIC_RELAXED);
            return 0;
        }
    }
    return -ERRNO_EINVAL;
}

struct uk_alloc *uk_allocnbbs_init(void *base, size_t len) {
    struct nbbs *b = &nbbs_state;
    memset(b, 0, sizeof(*b));
    b->a.palloc = nbbs_palloc;
    b->a.pfree = nbbs_pfree;
    b->a.pavailmem = nbbs_pavailmem;
    b->a.pmaxalloc = nbbs_pmaxalloc;
    b->a.addmem = nbbs_addmem;
    b->a.stats = alloc_stats_snapshot;
    ifpages_install(&b->a);
    if (nbbs_addmem(&b->a, base, len))
        return NULL;
    return &b->a;
}
