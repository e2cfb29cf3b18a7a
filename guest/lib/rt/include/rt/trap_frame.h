/*
 * The frame trap.S builds on the interrupted stack. Offsets are macros so trap.S and C share one
 * layout; the static asserts below keep the struct honest. The trap CSRs are those of the mode
 * the runtime runs in: mepc/mcause/mtval/mstatus (plat/bare) or sepc/scause/stval/sstatus
 * (plat/sbi).
 */
#ifndef RT_TRAP_FRAME_H
#define RT_TRAP_FRAME_H

#define TF_REG(n) ((n) * 8)
#define TF_EPC (32 * 8)
#define TF_CAUSE (33 * 8)
#define TF_TVAL (34 * 8)
#define TF_STATUS (35 * 8)
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
    unsigned long epc;   /* written back on return: a handler may move it */
    unsigned long cause;
    unsigned long tval;
    unsigned long status; /* written back on return */
};

_Static_assert(offsetof(struct trap_frame, epc) == TF_EPC, "trap.S layout");
_Static_assert(offsetof(struct trap_frame, cause) == TF_CAUSE, "trap.S layout");
_Static_assert(offsetof(struct trap_frame, tval) == TF_TVAL, "trap.S layout");
_Static_assert(offsetof(struct trap_frame, status) == TF_STATUS, "trap.S layout");
_Static_assert(sizeof(struct trap_frame) == TF_SIZE, "trap.S layout");

#endif /* __ASSEMBLER__ */
#endif /* RT_TRAP_FRAME_H */
