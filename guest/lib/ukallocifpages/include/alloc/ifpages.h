/*
 * Objects on a page allocator (library ukallocifpages, after Unikraft's uk_malloc_ifpages): fill
 * in the object operations (malloc .. getsize, availmem, maxalloc) of a page allocator from its
 * palloc/pfree/pavailmem/pmaxalloc. Each object sits behind a 32-byte header (size, pages, base
 * of the run); any power-of-two alignment is met by allocating `align` bytes more than needed.
 * So every object takes at least one page.
 */
#ifndef ALLOC_IFPAGES_H
#define ALLOC_IFPAGES_H

#include <alloc/alloc.h>

#define IFPAGES_HEADER_SIZE 32
void ifpages_install(struct uk_alloc *a);

#endif /* ALLOC_IFPAGES_H */
