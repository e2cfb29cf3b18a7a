/*
 * Objects on a page allocator. Each object is preceded by a header naming the page run it lives
 * in, so free needs nothing but the pointer. Alignment A is met by asking for A bytes more than
 * the object needs: the run's base is page-aligned, so the first A-aligned address at least
 * IFPAGES_HEADER_SIZE past it lies within A bytes of the base (or exactly at
 * IFPAGES_HEADER_SIZE for small A).
 */
#include <alloc/alloc.h>
#include <alloc/ifpages.h>
#include <rt/runtime.h>

struct ifpages_header {
    size_t size;             /* bytes the caller asked for */
    unsigned long num_pages; /* length of the run, as passed to palloc */
    void *base;              /* start of the run */
    unsigned long magic;     /* IFPAGES_MAGIC: catches frees of foreign pointers */
};

_Static_assert(sizeof(struct ifpages_header) == IFPAGES_HEADER_SIZE, "header size is the map's");

#define IFPAGES_MAGIC 0x1f9a6e5b0b1ec7UL

static struct ifpages_header *header_of(const void *ptr) {
    struct ifpages_header *h = (struct ifpages_header *)((uintptr_t)ptr - IFPAGES_HEADER_SIZE);
    ALLOC_ASSERT(h->magic == IFPAGES_MAGIC);
    return h;
}

/* align: a power of two. NULL when the request cannot be expressed in pages or is refused. */
static void *ifpages_alloc(struct uk_alloc *a, size_t align, size_t size) {
    size_t lead = align > IFPAGES_HEADER_SIZE ? align : IFPAGES_HEADER_SIZE;
    size_t total;
    if (__builtin_add_overflow(size, lead, &total) ||
        total > ((size_t)-1 >> 1)) /* leaves room for rounding up to pages */
        return NULL;
    unsigned long num_pages = (total + PAGE_SIZE - 1) >> PAGE_SHIFT;
    char *base = a->palloc(a, num_pages);
    if (!base)
        return NULL;
    uintptr_t obj = alloc_align_up((uintptr_t)base + IFPAGES_HEADER_SIZE, align);
    ALLOC_ASSERT(obj + size <= (uintptr_t)base + (num_pages << PAGE_SHIFT));
    struct ifpages_header *h = (struct ifpages_header *)(obj - IFPAGES_HEADER_SIZE);
    h->size = size;
    h->num_pages = num_pages;
    h->base = base;
    h->magic = IFPAGES_MAGIC;
    return (void *)obj;
}

static void *ifpages_malloc(struct uk_alloc *a, size_t size) {
    return ifpages_alloc(a, IFPAGES_HEADER_SIZE, size);
}

static void *ifpages_calloc(struct uk_alloc *a, size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        return NULL;
    void *p = ifpages_malloc(a, total);
    if (p)
        memset(p, 0, total);
    return p;
}

static size_t ifpages_getsize(struct uk_alloc *a, const void *ptr) {
    (void)a;
    struct ifpages_header *h = header_of(ptr);
    return (uintptr_t)h->base + (h->num_pages << PAGE_SHIFT) - (uintptr_t)ptr;
}

static void ifpages_free(struct uk_alloc *a, void *ptr) {
    if (!ptr)
        return;
    struct ifpages_header *h = header_of(ptr);
    h->magic = 0; /* a second free of ptr now trips the assertion instead of corrupting */
    a->pfree(a, h->base, h->num_pages);
}

/* Shrinking, or growing within the run's slack, keeps the object where it is. */
static void *ifpages_realloc(struct uk_alloc *a, void *ptr, size_t size) {
    if (!ptr)
        return ifpages_malloc(a, size);
    if (size == 0) {
        ifpages_free(a, ptr);
        return NULL;
    }
    struct ifpages_header *h = header_of(ptr);
    if (size <= ifpages_getsize(a, ptr)) {
        h->size = size;
        return ptr;
    }
    void *moved = ifpages_malloc(a, size);
    if (!moved)
        return NULL;
    memcpy(moved, ptr, h->size);
    ifpages_free(a, ptr);
    return moved;
}

/*
 * Planted bug (ALLOC_BUG=misalign; undefined by default, and then this is ifpages_alloc itself):
 * memalign and posix_memalign honour an alignment only up to 16. Above it the object is put 16
 * bytes past the aligned address, with its header moved along, so it is aligned to 16 and never
 * to `align`: memalign(64, n) returns the run's base + 80. See ukalloc's README.md.
 */
#if ALLOC_BUG_IS(misalign)
static void *ifpages_alloc_aligned(struct uk_alloc *a, size_t align, size_t size) {
    size_t padded;
    if (align <= 16 || __builtin_add_overflow(size, 16, &padded))
        return ifpages_alloc(a, align, size);
    char *p = ifpages_alloc(a, align, padded);
    if (!p)
        return NULL;
    struct ifpages_header h = *header_of(p);
    h.size = size;
    *(struct ifpages_header *)(p + 16 - IFPAGES_HEADER_SIZE) = h;
    return p + 16;
}
#else
#define ifpages_alloc_aligned ifpages_alloc
#endif

static int ifpages_posix_memalign(struct uk_alloc *a, void **memptr, size_t align, size_t size) {
    if (!alloc_is_pow2(align) || align < sizeof(void *))
        return ERRNO_EINVAL;
    void *p = ifpages_alloc_aligned(a, align, size);
    if (!p)
        return ERRNO_ENOMEM;
    *memptr = p;
    return 0;
}

static void *ifpages_memalign(struct uk_alloc *a, size_t align, size_t size) {
    if (!alloc_is_pow2(align))
        return NULL;
    return ifpages_alloc_aligned(a, align, size);
}

static long ifpages_availmem(struct uk_alloc *a) {
    return a->pavailmem(a) << PAGE_SHIFT;
}

static long ifpages_maxalloc(struct uk_alloc *a) {
    long pages = a->pmaxalloc(a);
    return pages > 0 ? (pages << PAGE_SHIFT) - IFPAGES_HEADER_SIZE : 0;
}

void ifpages_install(struct uk_alloc *a) {
    a->malloc = ifpages_malloc;
    a->calloc = ifpages_calloc;
    a->realloc = ifpages_realloc;
    a->posix_memalign = ifpages_posix_memalign;
    a->memalign = ifpages_memalign;
    a->free = ifpages_free;
    a->getsize = ifpages_getsize;
    a->availmem = ifpages_availmem;
    a->maxalloc = ifpages_maxalloc;
}
