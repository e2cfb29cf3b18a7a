/* exit(2) and exit_group(2): one process owns every hart, so both end the whole machine. */
#include "finisher.h"

#include <contract.h>
#include <rt/exit.h>
#include <rt/syscall.h>

static long sys_exit(const unsigned long *args) {
    finisher_exit((int)args[0]);
}

SYSCALL_REGISTER(SYS_exit, sys_exit);
SYSCALL_REGISTER(SYS_exit_group, sys_exit);

void exit(int code) {
    syscall6(SYS_exit_group, code, 0, 0, 0, 0, 0);
    /* Not reached: the finisher stops the machine and the handler parks. */
    for (;;)
        ;
}
