/*
 * The fast paths of the frontend, in assembly because the compiler keeps a frame pointer
 * (8 instructions of prologue and epilogue) in every C function that may call another, even
 * when the path taken calls nothing. Both fall through to the C slow paths in mimalloc.c with a
 * tail call; struct offsets are the MI_OFF_* constants, checked against the C structs by
 * _Static_assert in mimalloc.c.
 *
 * mi_malloc(size): size <= MI_DIRECT_MAX: page = heap->pages_direct[(size + 15) / 16]; pop
 *   page->free; used += 1 (an AMO: remote frees decrement it). Else, or when the free list is
 *   empty: mi_malloc_generic(heap, size).
 * mi_free(p): NULL: nothing. seg = (p - 1) & ~(MI_SEGMENT_SIZE - 1); if seg->fast_heap is this
 *   hart's heap and the page's flags are 0: push p onto page->local_free, used -= 1 (AMO).
 *   Else mi_free_generic(seg, p) (remote free, huge block, page on the full queue).
 */
#include "mimalloc.h"

    .text
    .globl  mi_malloc
    .type   mi_malloc, @function
mi_malloc:
    ld      a3, MI_OFF_HART_HEAP(tp)
    li      a1, MI_DIRECT_MAX
    bltu    a1, a0, 1f
    addi    a1, a0, 15
    srli    a1, a1, 1
    andi    a1, a1, -8                  /* (size + 15) / 16 * sizeof(pointer) */
    add     a1, a1, a3
    ld      a1, 0(a1)                   /* page */
    ld      a2, MI_OFF_PAGE_FREE(a1)    /* block */
    beqz    a2, 1f
    ld      a4, 0(a2)
    sd      a4, MI_OFF_PAGE_FREE(a1)
    li      a4, 1
    amoadd.w zero, a4, (a1)             /* page->used += 1 */
    mv      a0, a2
    ret
1:  mv      a1, a0
    mv      a0, a3
    tail    mi_malloc_generic
    .size   mi_malloc, . - mi_malloc

    .globl  mi_free
    .type   mi_free, @function
mi_free:
    beqz    a0, 2f
    addi    a1, a0, -1
    lui     a2, %hi(-MI_SEGMENT_SIZE)
    and     a1, a1, a2                  /* segment */
    ld      a2, MI_OFF_HART_HEAP(tp)
    ld      a3, MI_OFF_SEGMENT_FAST_HEAP(a1)
    bne     a2, a3, 1f
    sub     a2, a0, a1
    srli    a2, a2, MI_PAGE_SHIFT
    slli    a2, a2, 6
    add     a2, a2, a1                  /* page: segment + 64 * index */
    lbu     a3, MI_OFF_PAGE_FLAGS(a2)
    bnez    a3, 1f
    ld      a3, MI_OFF_PAGE_LOCAL_FREE(a2)
    sd      a3, 0(a0)
    sd      a0, MI_OFF_PAGE_LOCAL_FREE(a2)
    li      a3, -1
    amoadd.w zero, a3, (a2)             /* page->used -= 1 */
2:  ret
1:  mv      a2, a0
    mv      a0, a1
    mv      a1, a2
    tail    mi_free_generic
    .size   mi_free, . - mi_free

/* The uk_alloc table's malloc and free: drop the table argument. */
    .globl  mi_uk_malloc
    .type   mi_uk_malloc, @function
mi_uk_malloc:
    mv      a0, a1
    j       mi_malloc
    .size   mi_uk_malloc, . - mi_uk_malloc

    .globl  mi_uk_free
    .type   mi_uk_free, @function
mi_uk_free:
    mv      a0, a1
    j       mi_free
    .size   mi_uk_free, . - mi_uk_free
