/*
 * Unikraft's allocator set-up over this runtime. An image has one allocator stack, built by
 * the interface's alloc_init (guest/lib/ukalloc), which calls the backend's init and registers
 * what it returns. A Unikraft allocator's init registers itself too, as it must in Unikraft;
 * that registration only remembers the allocator (uk_alloc_registered), since the interface's
 * own follows at once.
 */
#include <alloc/ifpages.h>
#include <string.h>
#include <uk/alloc_impl.h>

static struct uk_alloc *first_registered;

#ifdef UK_ALLOC_UNIKRAFT_LIBNAME
/* The backend's name in messages (alloc/alloc.h: UK_ALLOC_BACKEND_NAME). */
const char uk_alloc_unikraft_name[] = ALLOC_STR(UK_ALLOC_UNIKRAFT_LIBNAME);
#endif

int uk_alloc_register(struct uk_alloc *a) {
    struct uk_alloc *none = NULL;
    __atomic_compare_exchange_n(&first_registered, &none, a, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    return 0;
}

struct uk_alloc *uk_alloc_registered(void) {
    return __atomic_load_n(&first_registered, __ATOMIC_ACQUIRE);
}

void uk_alloc_init_palloc(struct uk_alloc *a, uk_alloc_palloc_func_t palloc,
                          uk_alloc_pfree_func_t pfree, uk_alloc_getsize_func_t pmaxalloc,
                          uk_alloc_getsize_func_t pavailmem, uk_alloc_addmem_func_t addmem) {
    memset(&a->counters, 0, sizeof(a->counters));
    a->palloc = palloc;
    a->pfree = pfree;
    a->pmaxalloc = pmaxalloc;
    a->pavailmem = pavailmem;
    a->addmem = addmem;
    a->stats = alloc_stats_snapshot;
    ifpages_install(a);
    uk_alloc_register(a);
}

/* Pages from an object allocator: page-aligned runs from its posix_memalign. */
static void *compat_palloc(struct uk_alloc *a, unsigned long num_pages) {
    void *p = NULL;
    if (num_pages > (~0UL >> PAGE_SHIFT))
        return NULL;
    return a->posix_memalign(a, &p, PAGE_SIZE, num_pages << PAGE_SHIFT) == 0 ? p : NULL;
}

static void compat_pfree(struct uk_alloc *a, void *ptr, unsigned long num_pages) {
    (void)num_pages;
    a->free(a, ptr);
}

void uk_alloc_init_malloc(struct uk_alloc *a, uk_alloc_malloc_func_t malloc,
                          uk_alloc_calloc_func_t calloc, uk_alloc_realloc_func_t realloc,
                          uk_alloc_free_func_t free, uk_alloc_posix_memalign_func_t posix_memalign,
                          uk_alloc_memalign_func_t memalign, uk_alloc_getsize_func_t maxalloc,
                          uk_alloc_getsize_func_t availmem, uk_alloc_addmem_func_t addmem) {
    memset(&a->counters, 0, sizeof(a->counters));
    a->malloc = malloc;
    a->calloc = calloc;
    a->realloc = realloc;
    a->free = free;
    a->posix_memalign = posix_memalign;
    a->memalign = memalign;
    a->maxalloc = maxalloc;
    a->availmem = availmem;
    a->addmem = addmem;
    a->getsize = NULL;
    a->pavailmem = NULL;
    a->pmaxalloc = NULL;
    a->palloc = compat_palloc;
    a->pfree = compat_pfree;
    a->stats = alloc_stats_snapshot;
    uk_alloc_register(a);
}
