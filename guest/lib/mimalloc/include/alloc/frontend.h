/*
 * The allocator frontend (library mimalloc): per-hart heaps of small blocks in front of a page
 * provider (any backend), over the mmap shim (library mmapshim). Configurations named
 * `mimalloc+PROVIDER[+shimlock]` link it; uk_malloc and friends then go to it, uk_palloc and
 * friends to the provider.
 */
#ifndef ALLOC_FRONTEND_H
#define ALLOC_FRONTEND_H

#include <alloc/alloc.h>

/* The frontend's init (its lib.toml `init`): registering the backend registers the frontend over
 * it (alloc/alloc.h, "Registration"), which calls this with the backend as the provider.
 * Returns the frontend's table, or NULL when provider is NULL. */
struct uk_alloc *uk_mimalloc_init(struct uk_alloc *provider);

/* The frontend's own entry points (what uk_malloc / uk_free reach through the table). */
__attribute__((noinline)) void *mi_malloc(size_t size);
__attribute__((noinline)) void mi_free(void *p);

/*
 * On the calling hart's heap: take the blocks other harts freed (thread_free lists and delayed
 * pages), then give empty pages back to their segments and empty segments back with munmap.
 */
void mi_collect(void);

/* Blocks allocated and not yet freed over all heaps, and segments mapped (any hart, racy
 * unless the others are quiet). */
unsigned long mi_live_blocks(void);
unsigned long mi_live_segments(void);

/* Check the host-visible invariants on every heap (only when no hart is inside an allocator
 * call): for every page in use, used + |free| + |local_free| + |thread_free| == capacity <=
 * reserved; each segment's used_pages and owner. Prints each broken page; returns how many. */
unsigned long mi_check_heaps(void);

/* Sums over all heaps: slow-path mallocs, segments mapped, remote frees, delayed pages taken. */
struct mi_counters {
    unsigned long generic, segment_maps, remote_frees, delayed_taken;
};
void mi_counters(struct mi_counters *c);

#endif /* ALLOC_FRONTEND_H */
