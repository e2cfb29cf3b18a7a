/*
 * AMO litmus. Every hart performs, LITMUS_ITERS times, each of amoswap, amoadd, amoand, amoor,
 * amoxor, amomin, amomax, amominu and amomaxu in .w and .d form on one shared word per
 * op/width. The ordering (none, .aq, .rl, .aqrl) rotates with the iteration, the op and the hart,
 * and each instruction is spelled out in inline asm.
 *
 * All ops but swap are commutative and associative, so the final value is the initial one
 * folded with every operand in any order: hart 0 recomputes that fold after a barrier. The
 * operands are hart+1 for add, a bit unique to (hart, iteration parity) for and/or, and a hash
 * of (op, width, hart, iteration) for xor and min/max. For swap, the values swapped in plus the
 * initial value must equal the values returned plus the final value as a multiset, checked by
 * sum and xor. Each .w word has a guard word next to it that must stay untouched, and every
 * .w result must come back sign-extended.
 */
#include "rt/runtime.h"
#include <stdint.h>

#ifndef LITMUS_ITERS
#define LITMUS_ITERS 500
#endif

enum op { OP_SWAP, OP_ADD, OP_AND, OP_OR, OP_XOR, OP_MIN, OP_MAX, OP_MINU, OP_MAXU, NOPS };

static const char *const op_names[NOPS] = {"swap", "add", "and",  "or",  "xor",
                                           "min",  "max", "minu", "maxu"};

#define GUARD 0xa5a5a5a5u

/* One 64-byte line per op: the .d word, the .w word and the .w word's guard. */
struct cell {
    uint64_t d;
    uint32_t w;
    uint32_t guard;
} __attribute__((aligned(64)));

static struct cell cells[NOPS];

/* What each hart saw: swap return sums and xors, and .w results that were not sign-extended. */
struct hart_stats {
    uint64_t swap_sum[2], swap_xor[2];
    unsigned long bad_sext[NOPS];
} __attribute__((aligned(64)));

static struct hart_stats stats[MAX_HARTS];

/* ---- The instructions. ----------------------------------------------------------------------- */

/* One asm per ordering: rd = amo<op>.<w|d><ord> rs2, (rs1). .w results are the whole register, so
 * the caller can check the sign extension. */
#define AMO_ASM(insn, r, p, v)                                                                     \
    __asm__ volatile(insn " %0, %2, (%1)" : "=r"(r) : "r"(p), "r"(v) : "memory")

#define DEFINE_AMO(name, insn, T)                                                                  \
    static unsigned long name(T *p, T v, unsigned ord) {                                           \
        unsigned long r;                                                                           \
        switch (ord & 3) {                                                                         \
        case 0:                                                                                    \
            AMO_ASM(insn, r, p, v);                                                                \
            break;                                                                                 \
        case 1:                                                                                    \
            AMO_ASM(insn ".aq", r, p, v);                                                          \
            break;                                                                                 \
        case 2:                                                                                    \
            AMO_ASM(insn ".rl", r, p, v);                                                          \
            break;                                                                                 \
        default:                                                                                   \
            AMO_ASM(insn ".aqrl", r, p, v);                                                        \
            break;                                                                                 \
        }                                                                                          \
        return r;                                                                                  \
    }

#define DEFINE_AMO_PAIR(op)                                                                        \
    DEFINE_AMO(amo_##op##_w, "amo" #op ".w", uint32_t)                                             \
    DEFINE_AMO(amo_##op##_d, "amo" #op ".d", uint64_t)

DEFINE_AMO_PAIR(swap)
DEFINE_AMO_PAIR(add)
DEFINE_AMO_PAIR(and)
DEFINE_AMO_PAIR(or)
DEFINE_AMO_PAIR(xor)
DEFINE_AMO_PAIR(min)
DEFINE_AMO_PAIR(max)
DEFINE_AMO_PAIR(minu)
DEFINE_AMO_PAIR(maxu)

static unsigned long amo_w(enum op op, uint32_t *p, uint32_t v, unsigned ord) {
    switch (op) {
    case OP_SWAP:
        return amo_swap_w(p, v, ord);
    case OP_ADD:
        return amo_add_w(p, v, ord);
    case OP_AND:
        return amo_and_w(p, v, ord);
    case OP_OR:
        return amo_or_w(p, v, ord);
    case OP_XOR:
        return amo_xor_w(p, v, ord);
    case OP_MIN:
        return amo_min_w(p, v, ord);
    case OP_MAX:
        return amo_max_w(p, v, ord);
    case OP_MINU:
        return amo_minu_w(p, v, ord);
    default:
        return amo_maxu_w(p, v, ord);
    }
}

static unsigned long amo_d(enum op op, uint64_t *p, uint64_t v, unsigned ord) {
    switch (op) {
    case OP_SWAP:
        return amo_swap_d(p, v, ord);
    case OP_ADD:
        return amo_add_d(p, v, ord);
    case OP_AND:
        return amo_and_d(p, v, ord);
    case OP_OR:
        return amo_or_d(p, v, ord);
    case OP_XOR:
        return amo_xor_d(p, v, ord);
    case OP_MIN:
        return amo_min_d(p, v, ord);
    case OP_MAX:
        return amo_max_d(p, v, ord);
    case OP_MINU:
        return amo_minu_d(p, v, ord);
    default:
        return amo_maxu_d(p, v, ord);
    }
}

/* ---- Operands, initial values and the reference fold (width 32 or 64). ---------------------- */

static uint64_t mask(unsigned width) {
    return width == 32 ? 0xffffffffUL : ~0UL;
}

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15UL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
    return x ^ (x >> 31);
}

static uint64_t bit(unsigned width, unsigned hart, unsigned i) {
    return 1UL << ((2 * hart + (i & 1)) % width);
}

static uint64_t operand(enum op op, unsigned width, unsigned hart, unsigned i) {
    uint64_t v;
    switch (op) {
    case OP_ADD:
        v = width == 32 ? hart + 1 : (hart + 1) * 0x100000001UL;
        break;
    case OP_AND:
        v = ~bit(width, hart, i);
        break;
    case OP_OR:
        v = bit(width, hart, i);
        break;
    default: /* swap tokens, xor patterns, min/max candidates */
        v = mix((uint64_t)op << 56 ^ (uint64_t)width << 48 ^ (uint64_t)hart << 32 ^ i);
        break;
    }
    return v & mask(width);
}

static uint64_t initial(enum op op, unsigned width) {
    uint64_t v;
    switch (op) {
    case OP_ADD:
        v = width == 32 ? 0xfffff000UL : 0xffffffff00000000UL; /* carries wrap or cross 32 bits */
        break;
    case OP_AND:
        v = ~0UL;
        break;
    case OP_OR:
        v = 0;
        break;
    case OP_MIN:
        v = width == 32 ? 0x7fffffffUL : 0x7fffffffffffffffUL;
        break;
    case OP_MAX:
        v = width == 32 ? 0x80000000UL : 0x8000000000000000UL;
        break;
    case OP_MINU:
        v = ~0UL;
        break;
    case OP_MAXU:
        v = 0;
        break;
    default:
        v = mix(0x5eed0000UL + op * 64 + width);
        break;
    }
    return v & mask(width);
}

static int64_t as_signed(uint64_t v, unsigned width) {
    return width == 32 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
}

static uint64_t fold(enum op op, unsigned width, uint64_t acc, uint64_t v) {
    uint64_t r;
    switch (op) {
    case OP_ADD:
        r = acc + v;
        break;
    case OP_AND:
        r = acc & v;
        break;
    case OP_OR:
        r = acc | v;
        break;
    case OP_XOR:
        r = acc ^ v;
        break;
    case OP_MIN:
        r = as_signed(v, width) < as_signed(acc, width) ? v : acc;
        break;
    case OP_MAX:
        r = as_signed(v, width) > as_signed(acc, width) ? v : acc;
        break;
    case OP_MINU:
        r = v < acc ? v : acc;
        break;
    case OP_MAXU:
        r = v > acc ? v : acc;
        break;
    default:
        r = v;
        break;
    }
    return r & mask(width);
}

/* ---- The run and the checks. ----------------------------------------------------------------- */

static void run(unsigned hart) {
    struct hart_stats *s = &stats[hart];
    for (unsigned i = 0; i < LITMUS_ITERS; i++) {
        for (unsigned op = 0; op < NOPS; op++) {
            unsigned ord = i + op + hart;
            uint64_t vw = operand(op, 32, hart, i), vd = operand(op, 64, hart, i);
            unsigned long rw = amo_w(op, &cells[op].w, (uint32_t)vw, ord);
            unsigned long rd = amo_d(op, &cells[op].d, vd, ord + 1);
            if (rw != (unsigned long)(long)(int)(unsigned)rw)
                s->bad_sext[op]++;
            if (op == OP_SWAP) {
                s->swap_sum[0] += (uint32_t)rw;
                s->swap_xor[0] ^= (uint32_t)rw;
                s->swap_sum[1] += rd;
                s->swap_xor[1] ^= rd;
            }
        }
    }
}

/* Checks one op/width, prints its line; returns 0 when it holds. */
static int check(enum op op, unsigned width, unsigned nharts) {
    int wide = width == 64;
    uint64_t got = wide ? __atomic_load_n(&cells[op].d, __ATOMIC_RELAXED)
                        : __atomic_load_n(&cells[op].w, __ATOMIC_RELAXED);
    uint32_t guard = __atomic_load_n(&cells[op].guard, __ATOMIC_RELAXED);
    char c = wide ? 'd' : 'w';

    unsigned long bad_sext = 0;
    for (unsigned h = 0; h < nharts; h++)
        bad_sext += stats[h].bad_sext[op];
    if (!wide && bad_sext) {
        printf("litmus-amo: %s.w FAIL (%lu results not sign-extended)\n", op_names[op], bad_sext);
        return 1;
    }
    if (!wide && guard != GUARD) {
        printf("litmus-amo: %s.w FAIL (guard word next to it is 0x%x, want 0x%x)\n", op_names[op],
               guard, GUARD);
        return 1;
    }

    if (op == OP_SWAP) {
        /* In: the initial value and every token. Out: every returned value and the final one. */
        uint64_t in_sum = initial(op, width), in_xor = initial(op, width);
        uint64_t out_sum = got, out_xor = got;
        for (unsigned h = 0; h < nharts; h++) {
            for (unsigned i = 0; i < LITMUS_ITERS; i++) {
                uint64_t t = operand(op, width, h, i);
                in_sum += t;
                in_xor ^= t;
            }
            out_sum += stats[h].swap_sum[wide];
            out_xor ^= stats[h].swap_xor[wide];
        }
        if (in_sum != out_sum || in_xor != out_xor) {
            printf("litmus-amo: swap.%c FAIL (swapped in sum 0x%lx xor 0x%lx, "
                   "got out sum 0x%lx xor 0x%lx, final 0x%lx)\n",
                   c, in_sum, in_xor, out_sum, out_xor, got);
            return 1;
        }
        printf("litmus-amo: swap.%c ok\n", c);
        return 0;
    }

    uint64_t expected = initial(op, width);
    for (unsigned h = 0; h < nharts; h++)
        for (unsigned i = 0; i < LITMUS_ITERS; i++)
            expected = fold(op, width, expected, operand(op, width, h, i));
    if (got != expected) {
        printf("litmus-amo: %s.%c FAIL (expected 0x%lx, got 0x%lx)\n", op_names[op], c, expected,
               got);
        return 1;
    }
    printf("litmus-amo: %s.%c ok\n", op_names[op], c);
    return 0;
}

int app_main(unsigned hart, unsigned nharts) {
    if (hart == 0) {
        for (unsigned op = 0; op < NOPS; op++) {
            cells[op].d = initial(op, 64);
            cells[op].w = (uint32_t)initial(op, 32);
            cells[op].guard = GUARD;
        }
    }
    barrier_all();
    run(hart);
    barrier_all();
    if (hart != 0)
        return 0;

    int first = 0, failures = 0;
    for (unsigned op = 0; op < NOPS; op++) {
        for (unsigned wide = 0; wide < 2; wide++) {
            if (check(op, wide ? 64 : 32, nharts)) {
                failures++;
                if (!first)
                    first = 1 + 2 * op + wide;
            }
        }
    }
    if (failures)
        printf("litmus-amo: FAIL (%d of %d checks failed)\n", failures, 2 * NOPS);
    else
        printf("litmus-amo: PASS\n");
    return first;
}
