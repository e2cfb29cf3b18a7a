/*
 * Harts and their per-hart blocks. tp points at the running hart's block from the first
 * instruction of start.S on; nothing else ever changes tp.
 */
#ifndef RT_HART_H
#define RT_HART_H

#include <contract.h>

/* 16 KiB of stack per hart, carved from the .stacks section by start.S. */
#define HART_STACK_SHIFT 14
#define HART_STACK_SIZE (1 << HART_STACK_SHIFT)

/* One cache line per hart block, so a hart's own fields never share a line with another's. */
#define HART_LOCAL_SHIFT 6
#define HART_LOCAL_SIZE (1 << HART_LOCAL_SHIFT)
#define HART_LOCAL_ID 0 /* offset of `id`, for start.S */

#ifndef __ASSEMBLER__

struct hart_local {
    unsigned long id;
    /* app_main's return value, published to hart 0 through `done`. */
    int result;
    int done;
    /* Set by the trap path when it takes a software interrupt; consumed by ipi_wait/ipi_take. */
    int ipi_pending;
    /* errno for code written against a C library's <errno.h> (guest/lib/ukcore). */
    int errno_value;
    /* The allocator frontend's heap for this hart (alloc/mimalloc.c), or NULL. */
    void *alloc_heap;
} __attribute__((aligned(HART_LOCAL_SIZE)));

_Static_assert(sizeof(struct hart_local) == HART_LOCAL_SIZE, "start.S indexes blocks by shift");

extern struct hart_local hart_locals[MAX_HARTS];

/* tp never changes after boot, so the asm need not be volatile: the compiler may reuse it. */
static inline struct hart_local *this_hart(void) {
    struct hart_local *self;
    __asm__("mv %0, tp" : "=r"(self));
    return self;
}

static inline unsigned hart_id(void) {
    return (unsigned)this_hart()->id;
}

/* Number of harts the FDT lists (at most MAX_HARTS); all of them run app_main. */
unsigned hart_count(void);

/* Free RAM for allocators: [heap_start(), heap_end()), from _end up to the FDT. */
void *heap_start(void);
void *heap_end(void);

/* Stop this hart for good: no interrupts enabled, wfi forever. */
__attribute__((noreturn)) void hart_park(void);

#endif /* __ASSEMBLER__ */
#endif /* RT_HART_H */
