/*
 * Region (bump) allocator, after Unikraft's ukallocregion (our own code). Every allocation
 * advances one pointer with compare-and-swap, so harts never lock; nothing is ever given back.
 * A compare-and-swap rather than an amoadd, because the aligned start depends on the pointer's
 * current value. Objects carry a 16-byte header with their size (for realloc and getsize);
 * page runs carry none.
 *
 * addmem only extends the region when the new memory starts exactly at its end.
 */
#include <alloc/alloc.h>
#include <alloc/region.h>
#include <rt/runtime.h>

#define REGION_HEADER_SIZE 16
#define REGION_MIN_ALIGN 16 /* what malloc guarantees: enough for any scalar type */

struct region_header {
    size_t size;
    unsigned long unused;
};

_Static_assert(sizeof(struct region_header) == REGION_HEADER_SIZE, "header size");

struct region {
    struct uk_alloc a;
    uintptr_t next; /* first free byte; only grows */
    uintptr_t end;  /* only grows (addmem) */
};

static struct region region_state;

const char uk_allocregion_name[] = "region";

static struct region *to_region(struct uk_alloc *a) {
    return (struct region *)a;
}

/* [result - header, result + size) is ours; result is aligned (align: a power of two). */
static uintptr_t bump(struct region *r, size_t header, size_t align, size_t size) {
    uintptr_t cur = __atomic_load_n(&r->next, __ATOMIC_RELAXED);
    for (;;) {
        uintptr_t end = __atomic_load_n(&r->end, __ATOMIC_RELAXED);
        uintptr_t low = cur + header, start = low + (align - 1);
        if (start < low) /* huge alignments wrap around */
            return 0;
        start &= ~(uintptr_t)(align - 1);
        if (start > end || end - start < size)
            return 0;
        if (__atomic_compare_exchange_n(&r->next, &cur, start + size, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return start;
    }
}

static void *region_alloc(struct uk_alloc *a, size_t align, size_t size) {
    if (align < REGION_MIN_ALIGN)
        align = REGION_MIN_ALIGN;
    uintptr_t p = bump(to_region(a), REGION_HEADER_SIZE, align, size);
    if (!p)
        return NULL;
    ((struct region_header *)(p - REGION_HEADER_SIZE))->size = size;
    return (void *)p;
}

static void *region_malloc(struct uk_alloc *a, size_t size) {
    return region_alloc(a, REGION_MIN_ALIGN, size);
}

static void *region_calloc(struct uk_alloc *a, size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        return NULL;
    void *p = region_malloc(a, total);
    if (p)
        memset(p, 0, total); /* memory handed back by nobody, but maybe not zero from boot */
    return p;
}

static size_t region_getsize(struct uk_alloc *a, const void *ptr) {
    (void)a;
    return ((const struct region_header *)((uintptr_t)ptr - REGION_HEADER_SIZE))->size;
}

static void region_free(struct uk_alloc *a, void *ptr) {
    (void)a, (void)ptr;
}

static void *region_realloc(struct uk_alloc *a, void *ptr, size_t size) {
    if (!ptr)
        return region_malloc(a, size);
    if (size == 0)
        return NULL;
    size_t old = region_getsize(a, ptr);
    if (size <= old) {
        ((struct region_header *)((uintptr_t)ptr - REGION_HEADER_SIZE))->size = size;
        return ptr;
    }
    void *moved = region_malloc(a, size);
    if (moved)
        memcpy(moved, ptr, old);
    return moved;
}

static int region_posix_memalign(struct uk_alloc *a, void **memptr, size_t align, size_t size) {
    if (!alloc_is_pow2(align) || align < sizeof(void *))
        return ERRNO_EINVAL;
    void *p = region_alloc(a, align, size);
    if (!p)
        return ERRNO_ENOMEM;
    *memptr = p;
    return 0;
}

static void *region_memalign(struct uk_alloc *a, size_t align, size_t size) {
    return alloc_is_pow2(align) ? region_alloc(a, align, size) : NULL;
}

static void *region_palloc(struct uk_alloc *a, unsigned long num_pages) {
    if (num_pages == 0 || num_pages > ((size_t)-1 >> (PAGE_SHIFT + 1)))
        return NULL;
    return (void *)bump(to_region(a), 0, PAGE_SIZE, num_pages << PAGE_SHIFT);
}

static void region_pfree(struct uk_alloc *a, void *ptr, unsigned long num_pages) {
    (void)a, (void)ptr, (void)num_pages;
}

static long region_availmem(struct uk_alloc *a) {
    struct region *r = to_region(a);
    return (long)(__atomic_load_n(&r->end, __ATOMIC_RELAXED) -
                  __atomic_load_n(&r->next, __ATOMIC_RELAXED));
}

static long region_pavailmem(struct uk_alloc *a) {
    return region_availmem(a) >> PAGE_SHIFT;
}

static long region_maxalloc(struct uk_alloc *a) {
    long left = region_availmem(a) - REGION_HEADER_SIZE - REGION_MIN_ALIGN;
    return left > 0 ? left : 0;
}

static long region_pmaxalloc(struct uk_alloc *a) {
    struct region *r = to_region(a);
    uintptr_t next = alloc_align_up(__atomic_load_n(&r->next, __ATOMIC_RELAXED), PAGE_SIZE);
    uintptr_t end = __atomic_load_n(&r->end, __ATOMIC_RELAXED);
    return next < end ? (long)((end - next) >> PAGE_SHIFT) : 0;
}

static int region_addmem(struct uk_alloc *a, void *base, size_t len) {
    struct region *r = to_region(a);
    uintptr_t expected = (uintptr_t)base;
    if ((uintptr_t)base + len < (uintptr_t)base)
        return -ERRNO_EINVAL;
    /* mutate: equivalent: only two adds of one range at once both match; both store its end */
    return __atomic_compare_exchange_n(&r->end, &expected, (uintptr_t)base + len, 0,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED)
               ? 0
               : -ERRNO_EINVAL;
}

struct uk_alloc *uk_allocregion_init(void *base, size_t len) {
    struct region *r = &region_state;
    memset(r, 0, sizeof(*r));
    r->next = (uintptr_t)base;
    r->end = (uintptr_t)base + len;
    r->a.malloc = region_malloc;
    r->a.calloc = region_calloc;
    r->a.realloc = region_realloc;
    r->a.posix_memalign = region_posix_memalign;
    r->a.memalign = region_memalign;
    r->a.free = region_free;
    r->a.getsize = region_getsize;
    r->a.palloc = region_palloc;
    r->a.pfree = region_pfree;
    r->a.availmem = region_availmem;
    r->a.pavailmem = region_pavailmem;
    r->a.maxalloc = region_maxalloc;
    r->a.pmaxalloc = region_pmaxalloc;
    r->a.addmem = region_addmem;
    r->a.stats = alloc_stats_snapshot;
    return &r->a;
}
