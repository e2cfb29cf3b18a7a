/*
 * What an allocator library implements against (lib/ukalloc's uk/alloc_impl.h): fill a
 * struct uk_alloc and register it. A page allocator gives its page operations to
 * uk_alloc_init_palloc, which builds the object operations on pages (library ukallocifpages:
 * a 32-byte header in front of each object, as Unikraft's ifpages); an object allocator gives
 * its object operations to uk_alloc_init_malloc, which builds pages on posix_memalign.
 */
#ifndef UK_ALLOC_IMPL_H
#define UK_ALLOC_IMPL_H

#include <uk/alloc.h>

/* The first allocator an init registered (its own registration), NULL before. */
struct uk_alloc *uk_alloc_registered(void);

void uk_alloc_init_palloc(struct uk_alloc *a, uk_alloc_palloc_func_t palloc,
                          uk_alloc_pfree_func_t pfree, uk_alloc_getsize_func_t pmaxalloc,
                          uk_alloc_getsize_func_t pavailmem, uk_alloc_addmem_func_t addmem);
void uk_alloc_init_malloc(struct uk_alloc *a, uk_alloc_malloc_func_t malloc,
                          uk_alloc_calloc_func_t calloc, uk_alloc_realloc_func_t realloc,
                          uk_alloc_free_func_t free, uk_alloc_posix_memalign_func_t posix_memalign,
                          uk_alloc_memalign_func_t memalign, uk_alloc_getsize_func_t maxalloc,
                          uk_alloc_getsize_func_t availmem, uk_alloc_addmem_func_t addmem);

#endif /* UK_ALLOC_IMPL_H */
