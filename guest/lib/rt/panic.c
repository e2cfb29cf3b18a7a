/* Panics: one line on the console, then the finisher with GUEST_EXIT_PANIC. Both go straight to
 * the devices, not through ecall, because the trap path may be what is broken. */
#include "dispatch.h"
#include "finisher.h"

#include <contract.h>
#include <rt/console.h>
#include <rt/csr.h>
#include <rt/hart.h>
#include <rt/panic.h>
#include <rt/printf.h>
#include <stdarg.h>

#define PANIC_LINE 160

static void emit(const char *line, int len) {
    if (len > PANIC_LINE - 1)
        len = PANIC_LINE - 1;
    console_write_emergency(line, (size_t)len);
}

void panic(const char *fmt, ...) {
    char line[PANIC_LINE];
    int len = snprintf(line, sizeof line, "hart %u: panic: ", hart_id());
    va_list ap;
    va_start(ap, fmt);
    len += vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
    va_end(ap);
    emit(line, len);
    emit("\n", 1);
    finisher_exit(GUEST_EXIT_PANIC);
}

void trap_panic(const struct trap_frame *frame) {
    char line[PANIC_LINE];
    int len = snprintf(line, sizeof line,
                       "hart %u: unhandled trap " CSR_PREFIX "cause=0x%lx " CSR_PREFIX
                       "epc=0x%lx " CSR_PREFIX "tval=0x%lx\n",
                       hart_id(), frame->cause, frame->epc, frame->tval);
    emit(line, len);
    finisher_exit(GUEST_EXIT_PANIC);
}
