/* The trap dispatcher: interrupts first, then ecalls, then registered exception handlers. */
#include "dispatch.h"

#include "ipi_private.h"
#include <contract.h>
#include <rt/hart.h>
#include <rt/time.h>
#include <rt/trap.h>
#include <stdint.h>

#define EXCEPTION_CAUSES 16
#define INTERRUPT_CAUSES 16

static trap_handler_fn exception_handlers[EXCEPTION_CAUSES];
static irq_handler_fn irq_handlers[INTERRUPT_CAUSES];

static int is_ecall(unsigned long cause) {
    return cause == CAUSE_USER_ECALL || cause == CAUSE_SUPERVISOR_ECALL ||
           cause == CAUSE_MACHINE_ECALL;
}

int trap_set_handler(unsigned long cause, trap_handler_fn fn) {
    /* ecalls always go to the system-call table; a handler there would never run. */
    if (cause >= EXCEPTION_CAUSES || is_ecall(cause))
        return -ERRNO_EINVAL;
    __atomic_store_n(&exception_handlers[cause], fn, __ATOMIC_RELEASE);
    return 0;
}

int trap_set_irq_handler(unsigned long irq, irq_handler_fn fn) {
    if (irq != IRQ_SOFT && irq != IRQ_TIMER)
        return -ERRNO_EINVAL;
    __atomic_store_n(&irq_handlers[irq], fn, __ATOMIC_RELEASE);
    return 0;
}

static void handle_interrupt(struct trap_frame *frame) {
    unsigned long irq = frame->cause & ~CAUSE_INTERRUPT;
    if (irq == IRQ_SOFT) {
        /* Acknowledge before anything else so an IPI sent while the handler runs is kept. */
        (void)ipi_ack();
        __atomic_store_n(&this_hart()->ipi_pending, 1, __ATOMIC_RELEASE);
    } else if (irq == IRQ_TIMER) {
        /* The only way to lower the timer interrupt is to move the deadline past the time. */
        mtimecmp_write(UINT64_MAX);
    } else {
        trap_panic(frame);
    }
    irq_handler_fn fn = __atomic_load_n(&irq_handlers[irq], __ATOMIC_ACQUIRE);
    if (fn)
        fn(frame);
}

void trap_dispatch(struct trap_frame *frame) {
    unsigned long cause = frame->cause;
    if (cause & CAUSE_INTERRUPT) {
        handle_interrupt(frame);
        return;
    }
    if (is_ecall(cause)) {
        syscall_dispatch(frame);
        frame->epc += 4; /* ecall has no compressed form */
        return;
    }
    trap_handler_fn fn = cause < EXCEPTION_CAUSES
                             ? __atomic_load_n(&exception_handlers[cause], __ATOMIC_ACQUIRE)
                             : 0;
    if (fn && fn(frame))
        return;
    trap_panic(frame);
}
