/*
 * A Treiber stack of TREIBER_NODES nodes shared by every hart. Each hart, TREIBER_ITERS times,
 * pops a node, takes ownership of it (atomic exchange of `owner`, which must have been free),
 * works on it, frees it and pushes it back. With TREIBER_HOLD=2 it pops two nodes a and b,
 * pushes a back, works on b, then pushes b: the classic ABA sequence (pop A, pop B, push A) is
 * then what one hart does on its own, and leaves top == A with A->next changed for the length
 * of the work. Push is a compare-exchange loop. Pop is either
 *
 *   TREIBER_POP=lrsc  (default) one LR/SC sequence: lr top; load top->next; sc next to top.
 *                     With reservation semantics no store to top can slip in between, so the
 *                     pop is ABA-safe; a value-based SC makes it as ABA-prone as the CAS.
 *   TREIBER_POP=cas   the classic ABA-prone pop: plain loads of top and top->next, then a
 *                     compare-exchange of top from the old top to that next. TREIBER_WINDOW
 *                     (default 0) iterations of an empty loop widen the gap before it.
 *
 * Corruption is detected as: a pop returning something that is not a node, a node popped while
 * not on the stack or pushed while on it (the `in_stack` flag), two owners at once, a stack that
 * stays empty while no node is held, lost node updates, or (hart 0, at the end) a stack that does
 * not hold exactly TREIBER_NODES distinct nodes. The finding hart prints
 * `treiber: CORRUPTED (...)`; every hart then stops, meets the others at the barrier and the run
 * returns 1. Every loop is bounded, so a corrupted stack never hangs the run.
 */
#include "rt/runtime.h"
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifndef TREIBER_NODES
#define TREIBER_NODES 8
#endif
#ifndef TREIBER_ITERS
#define TREIBER_ITERS 300
#endif
#ifndef TREIBER_POP
#define TREIBER_POP lrsc
#endif
#ifndef TREIBER_WINDOW
#define TREIBER_WINDOW 0
#endif
#ifndef TREIBER_HOLD
#define TREIBER_HOLD 1
#endif
#if TREIBER_HOLD != 1 && TREIBER_HOLD != 2
#error "TREIBER_HOLD must be 1 or 2"
#endif

#define POP_KIND_lrsc 1
#define POP_KIND_cas 2
#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define STR(x) #x
#define XSTR(x) STR(x)
#define POP_KIND XCAT(POP_KIND_, TREIBER_POP)
#if POP_KIND != POP_KIND_lrsc && POP_KIND != POP_KIND_cas
#error "TREIBER_POP must be lrsc or cas"
#endif

/* Consecutive empty pops (with no push anywhere in between) after which a hart gives up. */
#define EMPTY_LIMIT 1000000UL
/* Failed compare-exchanges in a row after which a push gives up. */
#define PUSH_LIMIT 1000000UL
#define FREE (-1L)

struct node {
    struct node *next;  /* written before the push publishes the node */
    long owner;         /* hart holding the node, or FREE */
    long in_stack;      /* 1 while on the stack (set just before the push, cleared after the pop) */
    unsigned long pops; /* bumped by the owner only, with plain accesses */
} __attribute__((aligned(64)));

#define NEXT_OFFSET offsetof(struct node, next)

static struct node nodes[TREIBER_NODES];
static struct node *top;

/* Set by the first hart to find corruption; every loop checks it and stops. */
static int corrupt;
/* Harts that hold no node and will not pop until they leave this state: waiting for an empty
 * stack to fill, or finished. */
static unsigned idle;
/* Completed pushes: lets a waiting hart tell an empty stack from one nobody will ever refill. */
static unsigned long pushes;

/* Reports corruption (only the first finder prints, so the console shows the cause rather than
 * the fallout) and returns 1. */
static int corrupted(unsigned hart, const char *fmt, ...) {
    if (__atomic_exchange_n(&corrupt, 1, __ATOMIC_SEQ_CST))
        return 1;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    printf("treiber: CORRUPTED (hart %u: %s)\n", hart, what);
    return 1;
}

static int stopped(void) {
    return __atomic_load_n(&corrupt, __ATOMIC_RELAXED);
}

static long node_index(const struct node *n) {
    uintptr_t base = (uintptr_t)nodes, p = (uintptr_t)n;
    if (p < base || p >= base + sizeof nodes || (p - base) % sizeof(struct node))
        return -1;
    return (long)((p - base) / sizeof(struct node));
}

/* ---- Push and pop. --------------------------------------------------------------------------- */

static int push(struct node *n) {
    struct node *old = __atomic_load_n(&top, __ATOMIC_RELAXED);
    for (unsigned long tries = 0;; tries++) {
        if (tries == PUSH_LIMIT)
            return 0;
        __atomic_store_n(&n->next, old, __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(&top, &old, n, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            break;
    }
    __atomic_add_fetch(&pushes, 1, __ATOMIC_SEQ_CST);
    return 1;
}

#if POP_KIND == POP_KIND_lrsc
/* One try (retried while the SC fails): the popped node, or 0 when the stack is empty. The
 * reservation on top covers the load of next, so any push or pop in between fails the SC. */
static struct node *pop_once(void) {
    struct node *n, *next;
    unsigned long fail;
    __asm__ volatile("1:\n"
                     "lr.d.aq %[n], (%[top])\n"
                     "beqz    %[n], 2f\n"
                     "ld      %[next], %[off](%[n])\n"
                     "sc.d    %[fail], %[next], (%[top])\n"
                     "bnez    %[fail], 1b\n"
                     "2:\n"
                     : [n] "=&r"(n), [next] "=&r"(next), [fail] "=&r"(fail)
                     : [top] "r"(&top), [off] "i"(NEXT_OFFSET)
                     : "memory");
    return n;
}
#else
/* One try, retried while the compare-exchange fails: plain (volatile) loads of top and
 * top->next, then a compare-exchange that only compares values, so A -> B -> A goes unseen. The
 * load of next depends on the address loaded from top, which orders the two. */
static struct node *pop_once(void) {
    struct node *old = *(struct node *volatile *)&top;
    for (;;) {
        if (!old)
            return 0;
        struct node *next = *(struct node *volatile *)&old->next;
        if (TREIBER_WINDOW > 0) {
            /* Exactly 2 * TREIBER_WINDOW instructions, which the compiler cannot fold away. */
            unsigned long w = TREIBER_WINDOW;
            __asm__ volatile("1: addi %0, %0, -1\n"
                             "bnez %0, 1b\n"
                             : "+r"(w));
        }
        if (__atomic_compare_exchange_n(&top, &old, next, 0, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
            return old;
        if (stopped())
            return 0;
    }
}
#endif

/* Pops a node, waiting while the stack is empty. 0 means give up (corruption was reported). */
static struct node *pop(unsigned hart, unsigned nharts) {
    for (;;) {
        struct node *n = pop_once();
        if (n)
            return n;
        if (stopped())
            return 0;
        /* Empty: wait idle, holding nothing and popping nothing, until a node shows up. If every
         * hart is idle and the stack is still empty with no push in between, nobody will ever
         * push again: nodes were lost. */
        __atomic_add_fetch(&idle, 1, __ATOMIC_SEQ_CST);
        unsigned long empties = 0, last_pushes = ~0UL;
        for (;;) {
            unsigned long p1 = __atomic_load_n(&pushes, __ATOMIC_SEQ_CST);
            unsigned i1 = __atomic_load_n(&idle, __ATOMIC_SEQ_CST);
            struct node *t = __atomic_load_n(&top, __ATOMIC_SEQ_CST);
            unsigned i2 = __atomic_load_n(&idle, __ATOMIC_SEQ_CST);
            unsigned long p2 = __atomic_load_n(&pushes, __ATOMIC_SEQ_CST);
            if (t)
                break;
            if (i1 == nharts && i2 == nharts && p1 == p2) {
                corrupted(hart,
                          "stack empty while all %u harts idle, no push in between: nodes lost",
                          i1);
                return 0;
            }
            if (p2 != last_pushes) {
                last_pushes = p2;
                empties = 0;
            }
            if (++empties == EMPTY_LIMIT) {
                corrupted(hart, "stack empty %lu times in a row with no push anywhere", empties);
                return 0;
            }
            if (stopped())
                return 0;
        }
        __atomic_sub_fetch(&idle, 1, __ATOMIC_SEQ_CST);
    }
}

/* ---- One hart's loop and the final check. ---------------------------------------------------- */

/* Pops a node and takes ownership of it: the node, or 0 after reporting corruption. */
static struct node *take(unsigned hart, unsigned nharts) {
    struct node *n = pop(hart, nharts);
    if (!n)
        return 0;
    long k = node_index(n);
    if (k < 0) {
        corrupted(hart, "pop returned %p, not a node", (void *)n);
        return 0;
    }
    long was = __atomic_exchange_n(&n->in_stack, 0, __ATOMIC_ACQ_REL);
    if (was != 1) {
        corrupted(hart, "popped node %ld, which was not on the stack (popped twice)", k);
        return 0;
    }
    long owner = __atomic_exchange_n(&n->owner, (long)hart, __ATOMIC_ACQ_REL);
    if (owner != FREE) {
        corrupted(hart, "popped node %ld, which hart %ld owns: double ownership", k, owner);
        return 0;
    }
    return n;
}

/* A little work while holding it: 0, or 1 after reporting corruption. */
static int use(unsigned hart, struct node *n) {
    volatile unsigned long *pops = &n->pops;
    *pops = *pops + 1;
    volatile long *own = &n->owner;
    if (*own != (long)hart)
        return corrupted(hart, "node %ld taken by hart %ld while held", node_index(n), *own);
    return 0;
}

/* Gives up ownership and pushes it back: 0, or 1 after reporting corruption. */
static int give(unsigned hart, struct node *n) {
    long k = node_index(n);
    long owner = __atomic_exchange_n(&n->owner, FREE, __ATOMIC_ACQ_REL);
    if (owner != (long)hart)
        return corrupted(hart, "node %ld taken by hart %ld while held", k, owner);
    long was = __atomic_exchange_n(&n->in_stack, 1, __ATOMIC_ACQ_REL);
    if (was != 0)
        return corrupted(hart, "pushing node %ld, which is already on the stack", k);
    if (!push(n))
        return corrupted(hart, "push of node %ld failed %lu times in a row", k, PUSH_LIMIT);
    return 0;
}

static int work(unsigned hart, unsigned nharts) {
    for (unsigned i = 0; i < TREIBER_ITERS && !stopped(); i++) {
        struct node *a = take(hart, nharts);
        if (!a)
            return 1;
        if (TREIBER_HOLD == 2) {
            struct node *b = take(hart, nharts);
            if (!b || use(hart, a) || give(hart, a))
                return 1;
            a = b;
        }
        if (use(hart, a) || give(hart, a))
            return 1;
    }
    return stopped();
}

static int check_stack(unsigned nharts) {
    unsigned char seen[TREIBER_NODES] = {0};
    unsigned count = 0;
    unsigned long pops = 0;
    struct node *n = __atomic_load_n(&top, __ATOMIC_ACQUIRE);
    for (unsigned steps = 0; n; steps++) {
        if (steps == 2 * TREIBER_NODES)
            return corrupted(0, "stack walk still going after %u steps (a cycle)", steps);
        long k = node_index(n);
        if (k < 0)
            return corrupted(0, "stack walk met %p, not a node, after %u nodes", (void *)n, count);
        if (seen[k])
            return corrupted(0, "stack walk met node %ld twice", k);
        seen[k] = 1;
        count++;
        if (n->owner != FREE || n->in_stack != 1)
            return corrupted(0, "node %ld on the stack has owner %ld, in_stack %ld", k, n->owner,
                             n->in_stack);
        pops += n->pops;
        n = n->next;
    }
    if (count != TREIBER_NODES)
        return corrupted(0, "stack holds %u nodes, want %u", count, (unsigned)TREIBER_NODES);
    unsigned long want = (unsigned long)nharts * TREIBER_ITERS * TREIBER_HOLD;
    if (pops != want)
        return corrupted(0, "node pop counts add up to %lu, want %lu (lost updates)", pops, want);
    return 0;
}

int app_main(unsigned hart, unsigned nharts) {
    if (TREIBER_HOLD * nharts > TREIBER_NODES) {
        /* A hart waiting for its second node would hold one: the lost-node check assumes not. */
        if (hart == 0)
            printf("treiber: %u harts holding %u nodes each need more than TREIBER_NODES=%u\n",
                   nharts, (unsigned)TREIBER_HOLD, (unsigned)TREIBER_NODES);
        return 2;
    }
    if (hart == 0) {
        for (unsigned k = 0; k < TREIBER_NODES; k++) {
            nodes[k].owner = FREE;
            nodes[k].in_stack = 1;
            nodes[k].next = k + 1 < TREIBER_NODES ? &nodes[k + 1] : 0;
        }
        top = &nodes[0];
    }
    barrier_all();

    int rc = work(hart, nharts);
    __atomic_add_fetch(&idle, 1, __ATOMIC_SEQ_CST); /* finished: holds nothing, pops no more */
    barrier_all();
    if (hart != 0)
        return rc;

    if (!stopped() && check_stack(nharts) == 0) {
        printf("treiber: PASS (%s)\n", XSTR(TREIBER_POP));
        return 0;
    }
    return 1;
}
