/* System-call dispatch over the .syscalls table the linker gathers from SYSCALL_REGISTER. */
#include "dispatch.h"

#include <contract.h>
#include <rt/syscall.h>

extern const struct syscall_entry __syscalls_start[];
extern const struct syscall_entry __syscalls_end[];

void syscall_dispatch(struct trap_frame *frame) {
    unsigned long nr = frame->x[REG_A7];
    const unsigned long *args = &frame->x[REG_A0]; /* a0..a5 are x10..x15, contiguous */
    long result = -ERRNO_ENOSYS;
    for (const struct syscall_entry *e = __syscalls_start; e < __syscalls_end; e++) {
        if (e->nr == nr) {
            result = e->fn(args);
            break;
        }
    }
    frame->x[REG_A0] = (unsigned long)result;
}
