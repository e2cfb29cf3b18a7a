/*
 * Entry points over the default allocator, and the statistics they keep. Every counter update is
 * an __atomic operation (maxima and minima by compare-and-swap), so concurrent harts neither
 * lose counts nor need the allocator's lock.
 *
 * ALLOC_STATS=0 (the frontend configurations set it) drops the counters: the entry points then
 * only forward to the allocator's table, so a malloc+free pair costs the frontend's fast path
 * plus a few instructions. They stay out of line either way (the host traces them by symbol).
 */
#include <alloc/alloc.h>
#include <rt/runtime.h>

#ifndef UK_ALLOC_BACKEND_INIT
#error "ukalloc is linked with a backend: the build defines UK_ALLOC_BACKEND_INIT from its lib.toml"
#endif

#ifndef ALLOC_STATS
#define ALLOC_STATS 1
#endif

static struct uk_alloc *default_alloc;

struct uk_alloc *uk_alloc_default(void) {
    return __atomic_load_n(&default_alloc, __ATOMIC_ACQUIRE);
}

/*
 * Registration (alloc/alloc.h). An image has one allocator stack, built once, so registering
 * compiles to storing its top (release: a hart that sees the pointer sees the allocator built
 * behind it). Static, so that it costs no code beside alloc_init's: the libraries never call it,
 * the interface registers them, named by their lib.toml.
 */
static int uk_alloc_register(struct uk_alloc *a) {
#ifdef UK_ALLOC_FRONTEND_INIT
    a = UK_ALLOC_FRONTEND_INIT(a); /* the frontend registers over a, its provider */
#endif
    if (!a)
        return -ERRNO_ENOMEM;
    __atomic_store_n(&default_alloc, a, __ATOMIC_RELEASE);
    return 0;
}

int alloc_init_range(void *base, size_t len) {
    return uk_alloc_register(UK_ALLOC_BACKEND_INIT(base, len));
}

int alloc_init(void) {
    char *start = heap_start();
    return alloc_init_range(start, (size_t)((char *)heap_end() - start));
}

void alloc_assert_failed(const char *file, int line, const char *expr) {
    panic("alloc: %s:%d: assertion failed: %s", file, line, expr);
}

/* ---- statistics ---- */

static void atomic_max(size_t *where, size_t value) {
    size_t seen = __atomic_load_n(where, __ATOMIC_RELAXED);
    while (seen < value &&
           !__atomic_compare_exchange_n(where, &seen, value, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void atomic_min_nonzero(size_t *where, size_t value) {
    size_t seen = __atomic_load_n(where, __ATOMIC_RELAXED);
    while ((seen == 0 || value < seen) &&
           !__atomic_compare_exchange_n(where, &seen, value, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void count_alloc(struct uk_alloc *a, size_t size) {
    if (!ALLOC_STATS)
        return;
    struct uk_alloc_stats *s = &a->counters;
    __atomic_store_n(&s->last_alloc_size, size, __ATOMIC_RELAXED);
    atomic_max(&s->max_alloc_size, size);
    atomic_min_nonzero(&s->min_alloc_size, size);
    __atomic_fetch_add(&s->tot_nb_allocs, 1, __ATOMIC_RELAXED);
    atomic_max(&s->max_nb_allocs, __atomic_add_fetch(&s->cur_nb_allocs, 1, __ATOMIC_RELAXED));
    atomic_max(&s->max_mem_use, __atomic_add_fetch(&s->cur_mem_use, size, __ATOMIC_RELAXED));
}

static void count_free(struct uk_alloc *a, size_t size) {
    if (!ALLOC_STATS)
        return;
    struct uk_alloc_stats *s = &a->counters;
    __atomic_fetch_add(&s->tot_nb_frees, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&s->cur_nb_allocs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&s->cur_mem_use, size, __ATOMIC_RELAXED);
}

static void count_enomem(struct uk_alloc *a) {
    if (!ALLOC_STATS)
        return;
    __atomic_fetch_add(&a->counters.nb_enomem, 1, __ATOMIC_RELAXED);
}

static void *counted(struct uk_alloc *a, void *p) {
    if (!ALLOC_STATS)
        return p;
    if (p)
        count_alloc(a, a->getsize ? a->getsize(a, p) : 0);
    else
        count_enomem(a);
    return p;
}

static void count_object_free(struct uk_alloc *a, void *p) {
    if (!ALLOC_STATS)
        return;
    count_free(a, a->getsize ? a->getsize(a, p) : 0);
}

void alloc_stats_snapshot(struct uk_alloc *a, struct uk_alloc_stats *dst) {
    struct uk_alloc_stats *s = &a->counters;
    dst->last_alloc_size = __atomic_load_n(&s->last_alloc_size, __ATOMIC_RELAXED);
    dst->max_alloc_size = __atomic_load_n(&s->max_alloc_size, __ATOMIC_RELAXED);
    dst->min_alloc_size = __atomic_load_n(&s->min_alloc_size, __ATOMIC_RELAXED);
    dst->tot_nb_allocs = __atomic_load_n(&s->tot_nb_allocs, __ATOMIC_RELAXED);
    dst->tot_nb_frees = __atomic_load_n(&s->tot_nb_frees, __ATOMIC_RELAXED);
    dst->cur_nb_allocs = __atomic_load_n(&s->cur_nb_allocs, __ATOMIC_RELAXED);
    dst->max_nb_allocs = __atomic_load_n(&s->max_nb_allocs, __ATOMIC_RELAXED);
    dst->cur_mem_use = __atomic_load_n(&s->cur_mem_use, __ATOMIC_RELAXED);
    dst->max_mem_use = __atomic_load_n(&s->max_mem_use, __ATOMIC_RELAXED);
    dst->nb_enomem = __atomic_load_n(&s->nb_enomem, __ATOMIC_RELAXED);
}

/* ---- entry points ---- */

void *uk_malloc(size_t size) {
    struct uk_alloc *a = uk_alloc_default();
    if (!a || !a->malloc)
        return NULL;
    return counted(a, a->malloc(a, size));
}

void *uk_calloc(size_t nmemb, size_t size) {
    struct uk_alloc *a = uk_alloc_default();
    size_t total;
    if (!a || !a->calloc)
        return NULL;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        count_enomem(a);
        return NULL;
    }
    return counted(a, a->calloc(a, nmemb, size));
}

void *uk_realloc(void *ptr, size_t size) {
    struct uk_alloc *a = uk_alloc_default();
    if (!a || !a->realloc)
        return NULL;
    if (!ptr)
        return uk_malloc(size);
    if (size == 0) {
        uk_free(ptr);
        return NULL;
    }
    size_t old = ALLOC_STATS && a->getsize ? a->getsize(a, ptr) : 0;
    void *moved = a->realloc(a, ptr, size);
    if (!moved) {
        count_enomem(a); /* ptr is still valid and still counted */
        return NULL;
    }
    count_free(a, old);
    if (ALLOC_STATS)
        count_alloc(a, a->getsize ? a->getsize(a, moved) : 0);
    return moved;
}

int uk_posix_memalign(void **memptr, size_t align, size_t size) {
    struct uk_alloc *a = uk_alloc_default();
    if (!a || !a->posix_memalign)
        return ERRNO_ENOMEM;
    int rc = a->posix_memalign(a, memptr, align, size);
    if (rc == 0)
        counted(a, *memptr);
    else if (rc == ERRNO_ENOMEM)
        count_enomem(a);
    return rc;
}

void *uk_memalign(size_t align, size_t size) {
    struct uk_alloc *a = uk_alloc_default();
    if (!a || !a->memalign)
        return NULL;
    return counted(a, a->memalign(a, align, size));
}

void uk_free(void *ptr) {
    struct uk_alloc *a = uk_alloc_default();
    if (!a || !a->free || !ptr)
        return;
    count_object_free(a, ptr);
    a->free(a, ptr);
}

void *uk_palloc(unsigned long num_pages) {
    struct uk_alloc *a = uk_alloc_default();
    if (!a || !a->palloc)
        return NULL;
    void *p = a->palloc(a, num_pages);
    if (p)
        count_alloc(a, num_pages << PAGE_SHIFT);
    else
        count_enomem(a);
    return p;
}

void uk_pfree(void *ptr, unsigned long num_pages) {
    struct uk_alloc *a = uk_alloc_default();
    if (!a || !a->pfree || !ptr)
        return;
    count_free(a, num_pages << PAGE_SHIFT);
    a->pfree(a, ptr, num_pages);
}

long uk_availmem(void) {
    struct uk_alloc *a = uk_alloc_default();
    return a && a->availmem ? a->availmem(a) : -1;
}

long uk_pavailmem(void) {
    struct uk_alloc *a = uk_alloc_default();
    return a && a->pavailmem ? a->pavailmem(a) : -1;
}

long uk_maxalloc(void) {
    struct uk_alloc *a = uk_alloc_default();
    return a && a->maxalloc ? a->maxalloc(a) : -1;
}

long uk_pmaxalloc(void) {
    struct uk_alloc *a = uk_alloc_default();
    return a && a->pmaxalloc ? a->pmaxalloc(a) : -1;
}

int uk_addmem(void *base, size_t len) {
    struct uk_alloc *a = uk_alloc_default();
    return a && a->addmem ? a->addmem(a, base, len) : -ERRNO_EINVAL;
}

void uk_alloc_stats(struct uk_alloc_stats *dst) {
    struct uk_alloc *a = uk_alloc_default();
    if (a && a->stats)
        a->stats(a, dst);
    else
        memset(dst, 0, sizeof(*dst));
}
