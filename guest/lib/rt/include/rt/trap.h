/*
 * Trap handling. trap.S saves every GPR, then the dispatcher handles, in order: interrupts
 * (software, timer), ecalls (system calls, see rt/syscall.h), exceptions with a registered
 * handler; anything else is a panic that exits with GUEST_EXIT_PANIC.
 *
 * Handlers run in the runtime's mode (M, or S under SBI firmware) with interrupts off, on the
 * interrupted code's stack. They must not use floating point: the trap path saves only the
 * integer registers.
 */
#ifndef RT_TRAP_H
#define RT_TRAP_H

#include <contract.h>
#include <rt/csr.h>
#include <rt/trap_frame.h>

/* Returns nonzero when it handled the exception; it may move frame->epc (e.g. to skip). */
typedef int (*trap_handler_fn)(struct trap_frame *frame);

/* Runs after the runtime's own work for that interrupt (see ipi.h, time.h). */
typedef void (*irq_handler_fn)(struct trap_frame *frame);

/* Handler for exception `cause` (0..15) for every hart; NULL removes it. Returns 0, or
 * -ERRNO_EINVAL for a cause out of range or an ecall cause (those are system calls). */
int trap_set_handler(unsigned long cause, trap_handler_fn fn);

/* Handler for interrupt IRQ_SOFT or IRQ_TIMER (rt/csr.h: the runtime's mode's software and timer
 * interrupts) for every hart; NULL removes it. */
int trap_set_irq_handler(unsigned long irq, irq_handler_fn fn);

/* Entry point of trap.S; the address start.S puts in mtvec (stvec under SBI firmware). */
void trap_entry(void);

#endif /* RT_TRAP_H */
