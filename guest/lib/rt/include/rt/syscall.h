/*
 * System calls: `ecall` with the Linux RISC-V number in a7 and arguments in a0..a5, the result
 * (or a negative ERRNO_* value) in a0. The table is open: any file adds a call with
 *
 *     static long sys_foo(const unsigned long *args) { ... }
 *     SYSCALL_REGISTER(SYS_foo, sys_foo);
 *
 * and the linker gathers the entries into .syscalls. Unknown numbers return -ERRNO_ENOSYS.
 */
#ifndef RT_SYSCALL_H
#define RT_SYSCALL_H

#include <contract.h>
#include <stddef.h>

/* args[0..5] are a0..a5 of the caller, read in place from its trap frame. */
typedef long (*syscall_fn)(const unsigned long *args);

struct syscall_entry {
    unsigned long nr;
    syscall_fn fn;
};

#define SYSCALL_REGISTER(nr_, fn_)                                                                 \
    static const struct syscall_entry syscall_entry_##nr_                                          \
        __attribute__((section(".syscalls"), used, aligned(8))) = {(nr_), (fn_)}

static inline long syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
    register long r_a0 __asm__("a0") = a0;
    register long r_a1 __asm__("a1") = a1;
    register long r_a2 __asm__("a2") = a2;
    register long r_a3 __asm__("a3") = a3;
    register long r_a4 __asm__("a4") = a4;
    register long r_a5 __asm__("a5") = a5;
    register long r_a7 __asm__("a7") = nr;
    __asm__ volatile("ecall"
                     : "+r"(r_a0)
                     : "r"(r_a1), "r"(r_a2), "r"(r_a3), "r"(r_a4), "r"(r_a5), "r"(r_a7)
                     : "memory");
    return r_a0;
}

/* fd 1 and 2 go to the console, in one piece; other fds fail with -ERRNO_EBADF. */
long write(int fd, const void *buf, size_t len);

#endif /* RT_SYSCALL_H */
