/* write(2): stdout and stderr both go to the console. */
#include <contract.h>
#include <rt/console.h>
#include <rt/syscall.h>

static long sys_write(const unsigned long *args) {
    int fd = (int)args[0];
    if (fd != 1 && fd != 2)
        return -ERRNO_EBADF;
    console_write((const char *)args[1], args[2]);
    return (long)args[2];
}

SYSCALL_REGISTER(SYS_write, sys_write);

long write(int fd, const void *buf, size_t len) {
    return syscall6(SYS_write, fd, (long)buf, (long)len, 0, 0, 0);
}
