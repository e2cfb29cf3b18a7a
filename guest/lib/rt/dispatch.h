/* Runtime-private: the C side of trap handling. */
#ifndef RUNTIME_DISPATCH_H
#define RUNTIME_DISPATCH_H

#include <rt/trap_frame.h>

/* Called by trap.S with the saved frame. */
void trap_dispatch(struct trap_frame *frame);

/* Runs system call frame->x[REG_A7] and stores its result in frame->x[REG_A0]. */
void syscall_dispatch(struct trap_frame *frame);

/* Print the unhandled-trap line and exit with GUEST_EXIT_PANIC. */
__attribute__((noreturn)) void trap_panic(const struct trap_frame *frame);

#endif /* RUNTIME_DISPATCH_H */
