/*
 * A mimalloc-style frontend (after the design of Leijen et al.'s mimalloc; our own code): one
 * heap per hart, size classes of about four per power of two, pages of one class carved from
 * 256 KiB segments that come from mmap and are aligned to their size, so any block finds its
 * segment by masking its address. Each page has three free lists:
 *
 *   free         the owner's malloc pops here;
 *   local_free   the owner's free pushes here (kept apart so the slow path runs regularly);
 *   thread_free  another hart's free pushes here with one compare-and-swap; the owner takes the
 *                whole list with one atomic swap. Push and take-all never read a block through
 *                a head they did not install, so they are free of ABA.
 *
 * `used` counts blocks handed out and not yet freed; a remote free decrements it (an AMO) after
 * its push, as the last thing it does to the page. The owner gives a page back only when every
 * block is home (mi_page_all_home): `used` is 0 (no remote free is still touching the page), its
 * thread_free list has been taken, and no delayed announcement is pending.
 *
 * Delayed free: pages the owner found full leave the size-class queues (the owner does not scan
 * them). A remote free into such a page announces it once: it sets page->delayed by an atomic
 * swap and, if it was the first, pushes the page onto its heap's `delayed` list, which the owner
 * takes (swap) in its slow path and in mi_collect.
 *
 * See guest/lib/mimalloc/README.md for sizes, invariants and the host-visible names.
 */
#include "mimalloc.h"

#include <alloc/alloc.h>
#include <alloc/frontend.h>
#include <alloc/mmap.h>
#include <rt/runtime.h>

_Static_assert(MI_SEGMENT_SIZE <= MMAP_ALIGN_MAX, "the shim must align segments");
_Static_assert(__builtin_offsetof(struct hart_local, alloc_heap) == MI_OFF_HART_HEAP, "asm");
_Static_assert(__builtin_offsetof(struct mi_page, used) == 0, "asm: amoadd on the page");
_Static_assert(__builtin_offsetof(struct mi_page, free) == MI_OFF_PAGE_FREE, "asm");
_Static_assert(__builtin_offsetof(struct mi_page, local_free) == MI_OFF_PAGE_LOCAL_FREE, "asm");
_Static_assert(__builtin_offsetof(struct mi_page, flags) == MI_OFF_PAGE_FLAGS, "asm");
_Static_assert(__builtin_offsetof(struct mi_segment, pages) == 0, "asm");
_Static_assert(__builtin_offsetof(struct mi_segment, fast_heap) == MI_OFF_SEGMENT_FAST_HEAP, "asm");
_Static_assert(sizeof(struct mi_heap *) * (MI_DIRECT_COUNT - 1) == 2 * MI_DIRECT_MAX / 4, "asm");

/* Never has a free block: a heap's direct entries point here until its class has a page. */
struct mi_page mi_page_empty;

/* In .data (initialised), so boot does not clear them and no init loop is needed. */
struct mi_heap mi_heaps[MAX_HARTS] = {
    [0 ... MAX_HARTS - 1] = {.pages_direct = {[0 ... MI_DIRECT_COUNT - 1] = &mi_page_empty}},
};
unsigned long mi_heap_count;

struct uk_alloc *mi_provider; /* the backend the pages come from (host-visible) */
static struct uk_alloc mi_alloc;

/* mimalloc_fast.S has mi_malloc and mi_free (alloc/frontend.h) and the uk_alloc table's malloc
 * and free; their slow paths tail-call these two. */
void *mi_uk_malloc(struct uk_alloc *a, size_t size);
void mi_uk_free(struct uk_alloc *a, void *p);
void *mi_malloc_generic(struct mi_heap *heap, size_t size);
void mi_free_generic(struct mi_segment *seg, void *p);

#define MI_MAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_UNINITIALIZED)

/* ---- size classes ---- */

static inline unsigned mi_bin(size_t size) {
    if (size <= 128)
        return size ? (unsigned)((size + 15) >> 4) - 1 : 0;
    size_t s = size - 1;
    unsigned msb = 63 - (unsigned)__builtin_clzl(s);
    return 8 + 4 * (msb - 7) + (unsigned)((s >> (msb - 2)) & 3);
}

static inline size_t mi_bin_size(unsigned bin) {
    if (bin < 8)
        return 16 * (bin + 1);
    size_t base = 128UL << ((bin - 8) / 4);
    return base + ((bin - 8) % 4 + 1) * (base / 4);
}

/* ---- small helpers ---- */

static inline struct mi_heap *mi_heap_here(void) {
    return (struct mi_heap *)this_hart()->alloc_heap;
}

static inline struct mi_segment *mi_segment_of(const void *p) {
    /* p - 1: a block aligned to a whole segment size still finds its own header. */
    return (struct mi_segment *)(((uintptr_t)p - 1) & ~MI_SEGMENT_MASK);
}

static inline struct mi_page *mi_page_of(struct mi_segment *seg, const void *p) {
    return &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> MI_PAGE_SHIFT];
}

static inline struct mi_segment *mi_page_segment(struct mi_page *page) {
    return (struct mi_segment *)((uintptr_t)page & ~MI_SEGMENT_MASK);
}

static inline char *mi_page_start(struct mi_page *page) {
    struct mi_segment *seg = mi_page_segment(page);
    unsigned index = (unsigned)(page - seg->pages);
    return (char *)seg + (index ? (uintptr_t)index << MI_PAGE_SHIFT : MI_SEGMENT_HEADER);
}

static int mi_heap_valid(const struct mi_heap *heap) {
    return heap >= mi_heaps && heap < mi_heaps + mi_heap_count;
}

/* ---- page queues (owner only) ---- */

static void mi_direct_update(struct mi_heap *heap, unsigned bin) {
    if (bin >= MI_BIN_COUNT || mi_bin_size(bin) > MI_DIRECT_MAX)
        return;
    struct mi_page *page = heap->queues[bin].first ? heap->queues[bin].first : &mi_page_empty;
    size_t lo = bin ? mi_bin_size(bin - 1) / MI_BLOCK_ALIGN + 1 : 0;
    size_t hi = mi_bin_size(bin) / MI_BLOCK_ALIGN;
    for (size_t i = lo; i <= hi; i++)
        heap->pages_direct[i] = page;
}

static void mi_queue_remove(struct mi_page_queue *q, struct mi_page *page) {
    if (page->prev)
        page->prev->next = page->next;
    else
        q->first = page->next;
    if (page->next)
        page->next->prev = page->prev;
    else
        q->last = page->prev;
    page->next = page->prev = NULL;
}

static void mi_queue_push_front(struct mi_page_queue *q, struct mi_page *page) {
    page->prev = NULL;
    page->next = q->first;
    if (q->first)
        q->first->prev = page;
    else
        q->last = page;
    q->first = page;
}

static void mi_queue_push_back(struct mi_page_queue *q, struct mi_page *page) {
    page->next = NULL;
    page->prev = q->last;
    if (q->last)
        q->last->next = page;
    else
        q->first = page;
    q->last = page;
}

static struct mi_page_queue *mi_page_queue_of(struct mi_heap *heap, struct mi_page *page) {
    return (page->flags & MI_PAGE_IN_FULL) ? &heap->full : &heap->queues[page->bin];
}

/* ---- segments ---- */

static struct mi_segment *mi_segment_map(struct mi_heap *heap, size_t size, unsigned kind) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MI_MAP_FLAGS, -1, 0);
    if (mmap_failed(p))
        return NULL;
    ALLOC_ASSERT(((uintptr_t)p & MI_SEGMENT_MASK) == 0);
    struct mi_segment *seg = p;
    memset(seg, 0, sizeof(*seg));
    seg->heap = heap;
    seg->fast_heap = kind == MI_SEGMENT_SMALL ? heap : NULL;
    seg->size = size;
    seg->kind = kind;
    seg->next = heap->segments;
    if (heap->segments)
        heap->segments->prev = seg;
    heap->segments = seg;
    heap->segment_count++;
    heap->segment_maps++;
    return seg;
}

static void mi_segment_unmap(struct mi_heap *heap, struct mi_segment *seg) {
    if (seg->prev)
        seg->prev->next = seg->next;
    else
        heap->segments = seg->next;
    if (seg->next)
        seg->next->prev = seg->prev;
    heap->segment_count--;
    int rc = munmap(seg, seg->size);
    ALLOC_ASSERT(rc == 0);
}

/* ---- pages ---- */

/* Carve up to MI_EXTEND_BYTES more blocks (at least 4) onto the free list. */
static void mi_page_extend(struct mi_page *page) {
    unsigned room = page->reserved - page->capacity;
    if (!room)
        return;
    unsigned n = MI_EXTEND_BYTES / page->block_size;
    if (n < 4)
        n = 4;
    if (n > room)
        n = room;
    char *first = mi_page_start(page) + (size_t)page->capacity * page->block_size;
    struct mi_block *b = (struct mi_block *)first;
    for (unsigned i = 1; i < n; i++) {
        struct mi_block *next = (struct mi_block *)((char *)b + page->block_size);
        b->next = next;
        b = next;
    }
    b->next = page->free;
    page->free = (struct mi_block *)first;
    page->capacity = (unsigned short)(page->capacity + n);
}

/* Take every block other harts freed into this page and put them on local_free. */
static void mi_page_take_thread_free(struct mi_page *page) {
    if (ALLOC_BUG_IS(no_collect)) /* planted bug: remote frees are never collected */
        return;
    if (!__atomic_load_n(&page->thread_free, __ATOMIC_RELAXED))
        return;
#if ALLOC_BUG_IS(take_all_plain) /* planted bug: the take-all as a load then a store */
    struct mi_block *head = __atomic_load_n(&page->thread_free, __ATOMIC_RELAXED);
    __atomic_store_n(&page->thread_free, NULL, __ATOMIC_RELAXED);
#else
    struct mi_block *head = __atomic_exchange_n(&page->thread_free, NULL, __ATOMIC_SEQ_CST);
#endif
    if (!head)
        return;
    struct mi_block *tail = head;
    unsigned n = 1;
    while (tail->next) {
        tail = tail->next;
        ALLOC_ASSERT(++n <= page->capacity); /* a corrupted thread_free list */
    }
    tail->next = page->local_free;
    page->local_free = head;
}

/* Owner: make `free` non-empty if any block can be had without a new page. */
static void mi_page_collect(struct mi_page *page) {
    mi_page_take_thread_free(page);
    if (!page->free) {
        page->free = page->local_free;
        page->local_free = NULL;
    }
    if (!page->free)
        mi_page_extend(page);
}

static struct mi_page *mi_page_fresh(struct mi_heap *heap, unsigned bin) {
    struct mi_segment *seg;
    for (seg = heap->segments; seg; seg = seg->next)
        if (seg->kind == MI_SEGMENT_SMALL && seg->used_pages < MI_SEGMENT_PAGES)
            break;
    if (!seg && !(seg = mi_segment_map(heap, MI_SEGMENT_SIZE, MI_SEGMENT_SMALL)))
        return NULL;
    struct mi_page *page = seg->pages;
    while (page->in_use)
        page++;
    size_t bytes = page == seg->pages ? MI_PAGE_SIZE - MI_SEGMENT_HEADER : MI_PAGE_SIZE;
    memset(page, 0, sizeof(*page));
    page->block_size = (unsigned)mi_bin_size(bin);
    page->reserved = (unsigned short)(bytes / page->block_size);
    page->bin = (unsigned char)bin;
    page->in_use = 1;
    seg->used_pages++;
    mi_page_extend(page);
    return page;
}

/* Owner: give an empty page back to its segment, and the segment to mmap when it is empty. */
static void mi_page_retire(struct mi_heap *heap, struct mi_page *page) {
    struct mi_segment *seg = mi_page_segment(page);
    mi_queue_remove(mi_page_queue_of(heap, page), page);
    if (!(page->flags & MI_PAGE_IN_FULL))
        mi_direct_update(heap, page->bin);
    page->in_use = 0;
    page->flags = 0;
    page->free = page->local_free = NULL;
    if (--seg->used_pages == 0)
        mi_segment_unmap(heap, seg);
}

/* Owner: a page with no free block leaves its class queue for heap->full. */
static void mi_page_to_full(struct mi_heap *heap, struct mi_page *page) {
    mi_queue_remove(&heap->queues[page->bin], page);
    mi_direct_update(heap, page->bin);
    mi_queue_push_back(&heap->full, page);
    /* Store the flag, then look at thread_free: a remote free either is seen here or sees the
     * flag and announces the page (both sides use sequentially consistent accesses). */
    __atomic_store_n(&page->flags, page->flags | MI_PAGE_IN_FULL, __ATOMIC_SEQ_CST);
}

/* Owner: a page on heap->full that has free blocks again goes back to its class queue. */
static void mi_page_unfull(struct mi_heap *heap, struct mi_page *page) {
    mi_queue_remove(&heap->full, page);
    __atomic_store_n(&page->flags, page->flags & ~MI_PAGE_IN_FULL, __ATOMIC_SEQ_CST);
    mi_queue_push_back(&heap->queues[page->bin], page);
    if (heap->queues[page->bin].first == page)
        mi_direct_update(heap, page->bin);
}

/* Owner: no block is out, none waits on thread_free, no announcement is pending: the page may
 * go back to its segment. (Remote frees nobody collects keep their page forever.) */
static int mi_page_all_home(struct mi_page *page) {
    return __atomic_load_n(&page->used, __ATOMIC_ACQUIRE) == 0 &&
           !__atomic_load_n(&page->thread_free, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&page->delayed, __ATOMIC_ACQUIRE);
}

static int mi_page_has_free(const struct mi_page *page) {
    return page->free || page->local_free || page->capacity < page->reserved;
}

/* ---- delayed frees ---- */

/* Owner: take the pages other harts announced and deal with each. */
static void mi_heap_take_delayed(struct mi_heap *heap) {
    if (!__atomic_load_n(&heap->delayed, __ATOMIC_RELAXED))
        return;
    struct mi_page *page = __atomic_exchange_n(&heap->delayed, NULL, __ATOMIC_SEQ_CST);
    while (page) {
        struct mi_page *next = page->delayed_next;
        heap->delayed_taken++;
        __atomic_store_n(&page->delayed, 0, __ATOMIC_SEQ_CST);
        mi_page_take_thread_free(page);
        if (page->flags & MI_PAGE_HUGE) {
            if (mi_page_all_home(page))
                mi_segment_unmap(heap, mi_page_segment(page));
        } else if ((page->flags & MI_PAGE_IN_FULL) && mi_page_has_free(page)) {
            mi_page_unfull(heap, page);
        }
        page = next;
    }
}

/* ---- malloc ---- */

static void *mi_huge_alloc(struct mi_heap *heap, size_t size, size_t align) {
    size_t offset = alloc_align_up(MI_SEGMENT_HEADER, align);
    if (size > (1UL << 40))
        return NULL;
    size_t len = alloc_align_up(offset + size, MI_SEGMENT_SIZE);
    struct mi_segment *seg = mi_segment_map(heap, len, MI_SEGMENT_HUGE);
    if (!seg)
        return NULL;
    struct mi_page *page = &seg->pages[0];
    seg->used_pages = 1;
    seg->huge_offset = offset;
    page->used = 1;
    page->capacity = page->reserved = 1;
    page->block_size = (unsigned)(len - offset > 0xffffffffUL ? 0xffffffffUL : len - offset);
    page->flags = MI_PAGE_IN_FULL | MI_PAGE_HUGE;
    page->in_use = 1;
    page->bin = MI_BIN_HUGE;
    return (char *)seg + offset;
}

static inline void *mi_page_pop(struct mi_page *page) {
    struct mi_block *b = page->free;
    page->free = b->next;
    __atomic_fetch_add(&page->used, 1, __ATOMIC_RELAXED);
    return b;
}

__attribute__((noinline)) void *mi_malloc_generic(struct mi_heap *heap, size_t size) {
    heap->generic_count++;
    if (size > MI_SMALL_MAX)
        return mi_huge_alloc(heap, size, MI_BLOCK_ALIGN);
    mi_heap_take_delayed(heap);
    unsigned bin = mi_bin(size);
    struct mi_page_queue *q = &heap->queues[bin];
    struct mi_page *page = q->first, *next;
    for (; page; page = next) {
        next = page->next;
        mi_page_collect(page);
        if (page->free)
            break;
        mi_page_to_full(heap, page);
        mi_page_take_thread_free(page); /* a remote free that missed the flag */
        if (page->local_free) {
            mi_page_unfull(heap, page);
            mi_page_collect(page);
            break;
        }
    }
    if (!page) {
        page = mi_page_fresh(heap, bin);
        if (!page)
            return NULL;
        mi_queue_push_front(q, page);
    } else if (q->first != page) {
        mi_queue_remove(q, page);
        mi_queue_push_front(q, page);
    }
    mi_direct_update(heap, bin);
    return mi_page_pop(page);
}

/* mi_malloc and mi_free themselves are in mimalloc_fast.S (see there). */

/* ---- free ---- */

static __attribute__((noinline)) void mi_free_remote(struct mi_segment *seg, struct mi_page *page,
                                                     struct mi_block *b) {
    struct mi_heap *owner = seg->heap;
    struct mi_block *head = __atomic_load_n(&page->thread_free, __ATOMIC_RELAXED);
#if ALLOC_BUG_IS(remote_free_plain)
    /* Planted bug: a plain store where the CAS belongs; a push racing another push, or the
     * owner's take-all, loses blocks or hands them out twice. */
    b->next = head;
    *(struct mi_block *volatile *)&page->thread_free = b;
#else
    do
        b->next = head;
    while (!__atomic_compare_exchange_n(&page->thread_free, &head, b, 1, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED));
#endif
    if ((__atomic_load_n(&page->flags, __ATOMIC_SEQ_CST) & MI_PAGE_IN_FULL) &&
        __atomic_exchange_n(&page->delayed, 1, __ATOMIC_SEQ_CST) == 0) {
        struct mi_page *top = __atomic_load_n(&owner->delayed, __ATOMIC_RELAXED);
        do
            page->delayed_next = top;
        while (!__atomic_compare_exchange_n(&owner->delayed, &top, page, 1, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED));
    }
    /* Last touch of the page: once used can read 0, the owner may give the page back. */
    __atomic_fetch_sub(&page->used, 1, __ATOMIC_SEQ_CST);
}

__attribute__((noinline)) void mi_free_generic(struct mi_segment *seg, void *p) {
    struct mi_heap *heap = mi_heap_here();
    struct mi_block *b = p;
    ALLOC_ASSERT(mi_heap_valid(seg->heap)); /* p is not a block of this allocator */
    struct mi_page *page = seg->kind == MI_SEGMENT_HUGE ? &seg->pages[0] : mi_page_of(seg, p);
    ALLOC_ASSERT(page->in_use && __atomic_load_n(&page->used, __ATOMIC_RELAXED) > 0);
    if (seg->heap != heap) {
        heap->remote_frees++;
        mi_free_remote(seg, page, b);
        return;
    }
    b->next = page->local_free;
    page->local_free = b;
    __atomic_fetch_sub(&page->used, 1, __ATOMIC_RELAXED);
    if (page->flags & MI_PAGE_HUGE)
        mi_segment_unmap(heap, seg);
    else if (page->flags & MI_PAGE_IN_FULL)
        mi_page_unfull(heap, page);
}

/* ---- the rest of the interface ---- */

static size_t mi_usable_size(const void *p) {
    struct mi_segment *seg = mi_segment_of(p);
    if (seg->kind == MI_SEGMENT_HUGE)
        return seg->size - ((uintptr_t)p - (uintptr_t)seg);
    return mi_page_of(seg, p)->block_size;
}

static void *mi_memalign(size_t align, size_t size) {
    if (!alloc_is_pow2(align))
        return NULL;
    if (align <= MI_BLOCK_ALIGN)
        return mi_malloc(size);
    if (align <= MI_SMALL_ALIGN_MAX && size <= MI_SMALL_MAX) {
        /* Power-of-two classes start every page on a 2 KiB boundary: blocks are aligned. */
        size_t s = size > align ? size : align;
        size_t pow2 = s <= 1 ? 1 : 1UL << (64 - __builtin_clzl(s - 1));
        return mi_malloc(pow2);
    }
    if (align > MI_SEGMENT_SIZE)
        return NULL;
    return mi_huge_alloc(mi_heap_here(), size, align);
}

static void *mi_uk_calloc(struct uk_alloc *a, size_t nmemb, size_t size) {
    (void)a;
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        return NULL;
    void *p = mi_malloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}

static void *mi_uk_realloc(struct uk_alloc *a, void *p, size_t size) {
    (void)a;
    if (!p)
        return mi_malloc(size);
    if (size == 0) {
        mi_free(p);
        return NULL;
    }
    size_t usable = mi_usable_size(p);
    if (size <= usable && size >= usable / 2)
        return p;
    void *q = mi_malloc(size);
    if (!q)
        return NULL;
    memcpy(q, p, size < usable ? size : usable);
    mi_free(p);
    return q;
}

static void *mi_uk_memalign(struct uk_alloc *a, size_t align, size_t size) {
    (void)a;
    return mi_memalign(align, size);
}

static int mi_uk_posix_memalign(struct uk_alloc *a, void **memptr, size_t align, size_t size) {
    (void)a;
    if (!alloc_is_pow2(align) || align % sizeof(void *))
        return ERRNO_EINVAL;
    void *p = mi_memalign(align, size);
    if (!p)
        return ERRNO_ENOMEM;
    *memptr = p;
    return 0;
}

static size_t mi_uk_getsize(struct uk_alloc *a, const void *p) {
    (void)a;
    return mi_usable_size(p);
}

/* Pages and sizes: the provider's. */
static void *mi_uk_palloc(struct uk_alloc *a, unsigned long n) {
    (void)a;
    return mi_provider->palloc ? mi_provider->palloc(mi_provider, n) : NULL;
}
static void mi_uk_pfree(struct uk_alloc *a, void *p, unsigned long n) {
    (void)a;
    if (mi_provider->pfree)
        mi_provider->pfree(mi_provider, p, n);
}
static long mi_uk_availmem(struct uk_alloc *a) {
    (void)a;
    return mi_provider->availmem ? mi_provider->availmem(mi_provider) : -1;
}
static long mi_uk_pavailmem(struct uk_alloc *a) {
    (void)a;
    return mi_provider->pavailmem ? mi_provider->pavailmem(mi_provider) : -1;
}
static long mi_uk_maxalloc(struct uk_alloc *a) {
    (void)a;
    return mi_provider->maxalloc ? mi_provider->maxalloc(mi_provider) : -1;
}
static long mi_uk_pmaxalloc(struct uk_alloc *a) {
    (void)a;
    return mi_provider->pmaxalloc ? mi_provider->pmaxalloc(mi_provider) : -1;
}
static int mi_uk_addmem(struct uk_alloc *a, void *base, size_t len) {
    (void)a;
    return mi_provider->addmem ? mi_provider->addmem(mi_provider, base, len) : -ERRNO_EINVAL;
}

/* ---- collect and counts ---- */

void mi_collect(void) {
    struct mi_heap *heap = mi_heap_here();
    mi_heap_take_delayed(heap);
    for (unsigned bin = 0; bin <= MI_BIN_COUNT; bin++) {
        struct mi_page_queue *q = bin < MI_BIN_COUNT ? &heap->queues[bin] : &heap->full;
        struct mi_page *next;
        for (struct mi_page *page = q->first; page; page = next) {
            next = page->next;
            mi_page_take_thread_free(page);
            if (mi_page_all_home(page))
                mi_page_retire(heap, page);
            else if (bin == MI_BIN_COUNT && mi_page_has_free(page))
                mi_page_unfull(heap, page);
        }
    }
    struct mi_segment *next;
    for (struct mi_segment *seg = heap->segments; seg; seg = next) {
        next = seg->next;
        if (seg->kind != MI_SEGMENT_HUGE)
            continue;
        struct mi_page *page = &seg->pages[0];
        mi_page_take_thread_free(page);
        if (mi_page_all_home(page))
            mi_segment_unmap(heap, seg);
    }
}

unsigned long mi_live_blocks(void) {
    unsigned long live = 0;
    for (unsigned long h = 0; h < mi_heap_count; h++)
        for (struct mi_segment *seg = mi_heaps[h].segments; seg; seg = seg->next)
            for (unsigned i = 0; i < MI_SEGMENT_PAGES; i++)
                if (seg->pages[i].in_use)
                    live += __atomic_load_n(&seg->pages[i].used, __ATOMIC_RELAXED);
    return live;
}

void mi_counters(struct mi_counters *c) {
    memset(c, 0, sizeof(*c));
    for (unsigned long h = 0; h < mi_heap_count; h++) {
        c->generic += mi_heaps[h].generic_count;
        c->segment_maps += mi_heaps[h].segment_maps;
        c->remote_frees += mi_heaps[h].remote_frees;
        c->delayed_taken += mi_heaps[h].delayed_taken;
    }
}

static unsigned long mi_list_length(const struct mi_block *b, unsigned long limit) {
    unsigned long n = 0;
    for (; b && n <= limit; b = b->next)
        n++;
    return n;
}

unsigned long mi_check_heaps(void) {
    unsigned long bad = 0;
    for (unsigned long h = 0; h < mi_heap_count; h++)
        for (struct mi_segment *seg = mi_heaps[h].segments; seg; seg = seg->next) {
            unsigned in_use = 0;
            for (unsigned i = 0; i < MI_SEGMENT_PAGES; i++) {
                struct mi_page *page = &seg->pages[i];
                if (!page->in_use)
                    continue;
                in_use++;
                unsigned long cap = page->capacity;
                unsigned long lists = mi_list_length(page->free, cap) +
                                      mi_list_length(page->local_free, cap) +
                                      mi_list_length(page->thread_free, cap);
                if (page->used + lists != cap || cap > page->reserved) {
                    printf("FAIL frontend: heap %lu page %p: used %u + lists %lu != capacity "
                           "%lu\n",
                           h, page, page->used, lists, cap);
                    bad++;
                }
            }
            if (in_use != seg->used_pages || seg->heap != &mi_heaps[h])
                bad++;
        }
    return bad;
}

unsigned long mi_live_segments(void) {
    unsigned long n = 0;
    for (unsigned long h = 0; h < mi_heap_count; h++)
        n += mi_heaps[h].segment_count;
    return n;
}

/* ---- init ---- */

struct uk_alloc *uk_mimalloc_init(struct uk_alloc *provider) {
    if (!provider)
        return NULL;
    mi_provider = provider;
    unsigned n = hart_count();
    for (unsigned h = 0; h < n; h++) {
        mi_heaps[h].hart = h;
        hart_locals[h].alloc_heap = &mi_heaps[h];
    }
    __atomic_store_n(&mi_heap_count, n, __ATOMIC_RELEASE);
    mi_alloc = (struct uk_alloc){
        .malloc = mi_uk_malloc,
        .calloc = mi_uk_calloc,
        .realloc = mi_uk_realloc,
        .posix_memalign = mi_uk_posix_memalign,
        .memalign = mi_uk_memalign,
        .free = mi_uk_free,
        .getsize = mi_uk_getsize,
        .palloc = mi_uk_palloc,
        .pfree = mi_uk_pfree,
        .availmem = mi_uk_availmem,
        .pavailmem = mi_uk_pavailmem,
        .maxalloc = mi_uk_maxalloc,
        .pmaxalloc = mi_uk_pmaxalloc,
        .addmem = mi_uk_addmem,
        .stats = alloc_stats_snapshot,
    };
    return &mi_alloc;
}
