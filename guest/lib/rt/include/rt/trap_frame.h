/*
 * The frame trap.S builds on the interrupted stack. Offsets are macros so trap.S and C share one
 * layout; the static asserts below keep the struct honest.
 */
#ifndef RT_TRAP_FRAME_H
#define RT_TRAP_FRAME_H

#define TF_REG(n) ((n) * 8)
#define TF_MEPC (32 * 8)
#define TF_MCAUSE (33 * 8)
#define TF_MTVAL (34 * 8)
#define TF_MSTATUS (35 * 8)
/* A multiple of 16 keeps the stack ABI-aligned for the C dispatcher. */
#define TF_SIZE (36 * 8)

/* Indexes into trap_frame.x for the registers handlers usually want. */
#define REG_RA 1
#define REG_SP 2
#define REG_A0 10
#define REG_A7 17

#ifndef __ASSEMBLER__

#include <stddef.h>

struct trap_frame {
    unsigned long x[32]; /* x[0] is always 0; x[2] is sp as it was before the trap */
    unsigned long mepc;  /* written back on return: a handler may move it */
    unsigned long mcause;
    unsigned long mtval;
    unsigned long mstatus; /* written back on return */
};

_Static_assert(offsetof(struct trap_frame, mepc) == TF_MEPC, "trap.S layout");
_Static_assert(offsetof(struct trap_frame, mcause) == TF_MCAUSE, "trap.S layout");
_Static_assert(offsetof(struct trap_frame, mtval) == TF_MTVAL, "trap.S layout");
_Static_assert(offsetof(struct trap_frame, mstatus) == TF_MSTATUS, "trap.S layout");
_Static_assert(sizeof(struct trap_frame) == TF_SIZE, "trap.S layout");

#endif /* __ASSEMBLER__ */
#endif /* RT_TRAP_FRAME_H */
