/*
 * Unikraft's allocator API (lib/ukalloc's uk/alloc.h), as Unikraft code calls it: the allocator
 * is the first argument (uk_malloc(a, size)), the table is struct uk_alloc. It is the same table
 * as this project's interface (alloc/alloc.h), so an allocator written for Unikraft registers
 * into the image's allocator stack unchanged.
 *
 * A call on the image's default allocator goes through the interface's out-of-line entry
 * points (uk_malloc(size), ...), where the host's tracer and oracle see it; a call on any
 * other allocator goes to its table directly, as in Unikraft. A file includes this header or
 * alloc/alloc.h's entry points, not both: here uk_malloc takes the allocator.
 */
#ifndef UK_ALLOC_H
#define UK_ALLOC_H

#include <alloc/alloc.h>
#include <errno.h>
#include <uk/arch/types.h>
#include <uk/config.h>
#include <uk/essentials.h>

typedef void *(*uk_alloc_malloc_func_t)(struct uk_alloc *a, __sz size);
typedef void *(*uk_alloc_calloc_func_t)(struct uk_alloc *a, __sz nmemb, __sz size);
typedef void *(*uk_alloc_realloc_func_t)(struct uk_alloc *a, void *ptr, __sz size);
typedef int (*uk_alloc_posix_memalign_func_t)(struct uk_alloc *a, void **memptr, __sz align,
                                              __sz size);
typedef void *(*uk_alloc_memalign_func_t)(struct uk_alloc *a, __sz align, __sz size);
typedef void (*uk_alloc_free_func_t)(struct uk_alloc *a, void *ptr);
typedef void *(*uk_alloc_palloc_func_t)(struct uk_alloc *a, unsigned long num_pages);
typedef void (*uk_alloc_pfree_func_t)(struct uk_alloc *a, void *ptr, unsigned long num_pages);
typedef long (*uk_alloc_getsize_func_t)(struct uk_alloc *a);
typedef int (*uk_alloc_addmem_func_t)(struct uk_alloc *a, void *base, __sz size);

/* Registration (uk/alloc_impl.h registers an allocator as it is set up). The default is the
 * top of the image's allocator stack, which alloc_init builds: NULL before. */
int uk_alloc_register(struct uk_alloc *a);
static inline struct uk_alloc *uk_alloc_get_default(void) {
    return uk_alloc_default();
}

/* True when calls on `a` go through the interface's entry points (the host sees them). */
static inline int uk_alloc_is_default_(struct uk_alloc *a) {
    return a && a == uk_alloc_default();
}

static inline void *uk_alloc_malloc_(struct uk_alloc *a, __sz size) {
    if (uk_alloc_is_default_(a))
        return (uk_malloc)(size);
    if (!a || !a->malloc) {
        errno = ENOMEM;
        return NULL;
    }
    return a->malloc(a, size);
}
static inline void *uk_alloc_calloc_(struct uk_alloc *a, __sz nmemb, __sz size) {
    if (uk_alloc_is_default_(a))
        return (uk_calloc)(nmemb, size);
    if (!a || !a->calloc) {
        errno = ENOMEM;
        return NULL;
    }
    return a->calloc(a, nmemb, size);
}
static inline void *uk_alloc_realloc_(struct uk_alloc *a, void *ptr, __sz size) {
    if (uk_alloc_is_default_(a))
        return (uk_realloc)(ptr, size);
    if (!a || !a->realloc) {
        errno = ENOMEM;
        return NULL;
    }
    return a->realloc(a, ptr, size);
}
static inline int uk_alloc_posix_memalign_(struct uk_alloc *a, void **memptr, __sz align,
                                           __sz size) {
    if (uk_alloc_is_default_(a))
        return (uk_posix_memalign)(memptr, align, size);
    if (!a || !a->posix_memalign)
        return ENOMEM;
    return a->posix_memalign(a, memptr, align, size);
}
static inline void *uk_alloc_memalign_(struct uk_alloc *a, __sz align, __sz size) {
    if (uk_alloc_is_default_(a))
        return (uk_memalign)(align, size);
    if (!a || !a->memalign) {
        errno = ENOMEM;
        return NULL;
    }
    return a->memalign(a, align, size);
}
static inline void uk_alloc_free_(struct uk_alloc *a, void *ptr) {
    if (uk_alloc_is_default_(a))
        (uk_free)(ptr);
    else if (a && a->free)
        a->free(a, ptr);
}
static inline void *uk_alloc_palloc_(struct uk_alloc *a, unsigned long num_pages) {
    if (uk_alloc_is_default_(a))
        return (uk_palloc)(num_pages);
    if (!a || !a->palloc) {
        errno = ENOMEM;
        return NULL;
    }
    return a->palloc(a, num_pages);
}
static inline void uk_alloc_pfree_(struct uk_alloc *a, void *ptr, unsigned long num_pages) {
    if (uk_alloc_is_default_(a))
        (uk_pfree)(ptr, num_pages);
    else if (a && a->pfree)
        a->pfree(a, ptr, num_pages);
}

#define uk_malloc(a, size) uk_alloc_malloc_(a, size)
#define uk_calloc(a, nmemb, size) uk_alloc_calloc_(a, nmemb, size)
#define uk_realloc(a, ptr, size) uk_alloc_realloc_(a, ptr, size)
#define uk_posix_memalign(a, memptr, align, size) uk_alloc_posix_memalign_(a, memptr, align, size)
#define uk_memalign(a, align, size) uk_alloc_memalign_(a, align, size)
#define uk_free(a, ptr) uk_alloc_free_(a, ptr)
#define uk_palloc(a, num_pages) uk_alloc_palloc_(a, num_pages)
#define uk_pfree(a, ptr, num_pages) uk_alloc_pfree_(a, ptr, num_pages)

/* Sizes: bytes (availmem, maxalloc) and pages (pavailmem, pmaxalloc); -1 when unknown. */
static inline long uk_alloc_availmem(struct uk_alloc *a) {
    if (uk_alloc_is_default_(a))
        return uk_availmem();
    return a && a->availmem ? a->availmem(a) : -1;
}
static inline long uk_alloc_pavailmem(struct uk_alloc *a) {
    if (uk_alloc_is_default_(a))
        return uk_pavailmem();
    return a && a->pavailmem ? a->pavailmem(a) : -1;
}
static inline long uk_alloc_maxalloc(struct uk_alloc *a) {
    if (uk_alloc_is_default_(a))
        return uk_maxalloc();
    return a && a->maxalloc ? a->maxalloc(a) : -1;
}
static inline long uk_alloc_pmaxalloc(struct uk_alloc *a) {
    if (uk_alloc_is_default_(a))
        return uk_pmaxalloc();
    return a && a->pmaxalloc ? a->pmaxalloc(a) : -1;
}
static inline int uk_alloc_addmem(struct uk_alloc *a, void *base, __sz len) {
    if (uk_alloc_is_default_(a))
        return uk_addmem(base, len);
    return a && a->addmem ? a->addmem(a, base, len) : -EINVAL;
}
/* The same, summed over the one allocator stack an image has. */
static inline long uk_alloc_availmem_total(void) {
    return uk_alloc_availmem(uk_alloc_get_default());
}
static inline long uk_alloc_pavailmem_total(void) {
    return uk_alloc_pavailmem(uk_alloc_get_default());
}

#endif /* UK_ALLOC_H */
