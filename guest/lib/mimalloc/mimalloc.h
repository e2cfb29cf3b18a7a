/*
 * The frontend's data structures (private to mimalloc.c, but read by the host through DWARF:
 * the names below are documented in guest/lib/mimalloc/README.md, "Host-visible structures").
 *
 *   segment  MI_SEGMENT_SIZE bytes from mmap, aligned to its size; a header and MI_SEGMENT_PAGES
 *            pages of MI_PAGE_SIZE bytes (page 0 starts after the header, at MI_SEGMENT_HEADER).
 *            A huge segment holds one block (a request above MI_SMALL_MAX, or an alignment above
 *            MI_SMALL_ALIGN_MAX) and may be several segment sizes long.
 *   page     blocks of one size class, with three free lists: free (malloc pops it), local_free
 *            (the owner's frees) and thread_free (other harts' frees; atomic).
 *   heap     one per hart (mi_heaps[hart], also this_hart()->alloc_heap): a page queue per size
 *            class, a queue of full pages, the delayed list and the list of its segments.
 */
#ifndef ALLOC_MIMALLOC_H
#define ALLOC_MIMALLOC_H

#include <contract.h>

#define MI_SEGMENT_SHIFT 18 /* 256 KiB segments */
#define MI_SEGMENT_SIZE (1UL << MI_SEGMENT_SHIFT)
#define MI_SEGMENT_MASK (MI_SEGMENT_SIZE - 1)
#define MI_PAGE_SHIFT 14 /* 16 KiB pages */
#define MI_PAGE_SIZE (1UL << MI_PAGE_SHIFT)
#define MI_SEGMENT_PAGES (MI_SEGMENT_SIZE / MI_PAGE_SIZE)
#define MI_SEGMENT_HEADER 2048UL /* page 0's blocks start here: 2 KiB-aligned */

#define MI_BLOCK_ALIGN 16         /* every block, every size class: a multiple of 16 */
#define MI_SMALL_MAX 2048UL       /* larger requests get a huge segment of their own */
#define MI_SMALL_ALIGN_MAX 2048UL /* memalign up to this comes from a power-of-two class */
#define MI_DIRECT_MAX 1024UL      /* malloc's fast path covers sizes up to this */
#define MI_DIRECT_COUNT (MI_DIRECT_MAX / MI_BLOCK_ALIGN + 1)
#define MI_BIN_COUNT 24 /* 16..128 by 16, then four classes per power of two up to 2048 */
#define MI_BIN_HUGE 255
#define MI_EXTEND_BYTES 1024 /* a page's free list grows by this much at a time (>= 4 blocks) */

/* page->flags: any bit set sends the owner's free to the slow path. */
#define MI_PAGE_IN_FULL 1u /* on heap->full: remote frees announce the page (delayed free) */
#define MI_PAGE_HUGE 2u    /* the one page of a huge segment */

#define MI_SEGMENT_SMALL 1u
#define MI_SEGMENT_HUGE 2u

/* Offsets the fast paths in mimalloc_fast.S use. */
#define MI_OFF_HART_HEAP 24
#define MI_OFF_PAGE_FREE 8
#define MI_OFF_PAGE_LOCAL_FREE 16
#define MI_OFF_PAGE_FLAGS 36
#define MI_OFF_SEGMENT_FAST_HEAP 1024

#ifndef __ASSEMBLER__
#include <alloc/alloc.h>

struct mi_block {
    struct mi_block *next;
};

struct mi_heap;

/* 64 bytes, so the free fast path finds a page with one shift. */
struct mi_page {
    unsigned used;                /* blocks handed out and not yet freed (atomic; first field) */
    unsigned block_size;          /* bytes per block (huge: usable bytes of the one block) */
    struct mi_block *free;        /* owner only: malloc pops from here */
    struct mi_block *local_free;  /* owner only: the owner's frees */
    struct mi_block *thread_free; /* other harts push here (CAS); owner takes all (swap) */
    unsigned short capacity;      /* blocks carved so far: used + |free| + |local_free| +
                                     |thread_free| at quiescence */
    unsigned short reserved;      /* blocks that fit in the page */
    unsigned char flags;          /* MI_PAGE_*; written by the owner, read by any hart */
    unsigned char in_use;         /* 1: the page belongs to a size class (or a huge block) */
    unsigned char bin;            /* size class, MI_BIN_HUGE for a huge block */
    unsigned char delayed;        /* 1: on its heap's delayed list (atomic) */
    struct mi_page *next, *prev;  /* the page queue it is on (owner only) */
    struct mi_page *delayed_next; /* link on heap->delayed */
};

/* pages first: page i is at segment + 64 * i, which saves the fast free one addition. */
struct mi_segment {
    struct mi_page pages[MI_SEGMENT_PAGES];
    struct mi_heap *fast_heap; /* owner for small segments, NULL for huge: the fast free test */
    struct mi_heap *heap;      /* owning heap */
    struct mi_segment *next, *prev; /* the owner's list of segments (owner only) */
    size_t size;                    /* bytes mapped (multiple of MI_SEGMENT_SIZE) */
    unsigned kind;                  /* MI_SEGMENT_SMALL or MI_SEGMENT_HUGE */
    unsigned used_pages;            /* pages with in_use set */
    unsigned long huge_offset;      /* huge: the block's offset from the segment */
};

struct mi_page_queue {
    struct mi_page *first, *last;
};

struct mi_heap {
    /* Size (rounded up to 16) / 16 -> first page of its class, or &mi_page_empty. */
    struct mi_page *pages_direct[MI_DIRECT_COUNT];
    struct mi_page_queue queues[MI_BIN_COUNT]; /* pages of each class with free space */
    struct mi_page_queue full;                 /* pages found full (MI_PAGE_IN_FULL) */
    struct mi_page *delayed;     /* full pages other harts freed into (atomic push, swap) */
    struct mi_segment *segments; /* every segment of this heap, small and huge */
    unsigned long segment_count;
    unsigned long hart;
    /* Counters (owner only): slow-path mallocs, segments mapped, remote frees this hart made,
     * announced pages this heap took from its delayed list. */
    unsigned long generic_count;
    unsigned long segment_maps;
    unsigned long remote_frees;
    unsigned long delayed_taken;
};

extern struct mi_heap mi_heaps[MAX_HARTS];
extern struct mi_page mi_page_empty;
extern unsigned long mi_heap_count;

_Static_assert(sizeof(struct mi_page) == 64, "the free fast path indexes pages by shift");
_Static_assert(sizeof(struct mi_segment) <= MI_SEGMENT_HEADER, "header overlaps page 0");

#endif /* __ASSEMBLER__ */
#endif /* ALLOC_MIMALLOC_H */
