/*
 * System calls: `ecall` with the Linux RISC-V number in a7 and arguments in a0..a5, the result
 * (or a negative ERRNO_* value) in a0, served by the runtime's own trap handler (in S-mode from a
 * one-instruction trip to U-mode, below). The table is open: any file adds a call with
 *
 *     static long sys_foo(const unsigned long *args) { ... }
 *     SYSCALL_REGISTER(SYS_foo, sys_foo);
 *
 * and the linker gathers the entries into .syscalls. Unknown numbers return -ERRNO_ENOSYS.
 */
#ifndef RT_SYSCALL_H
#define RT_SYSCALL_H

#include <contract.h>
#include <rt/csr.h>
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

/*
 * SYSCALL_INSN is the system-call instruction sequence and SYSCALL_CLOBBERS what it clobbers
 * besides a0 (it includes "memory"), for code that must make a system call inside its own asm
 * (litmus-lrsc puts one between an LR and its SC).
 */
#if CONFIG_PLAT_SBI
/*
 * In S-mode an ecall goes to the SBI firmware, not to the runtime. So the call drops to U-mode for
 * its one ecall instruction: sie is cleared (no interrupt may be taken in U-mode, where S-level
 * interrupts are always on), sstatus.SPIE keeps SIE and SPP says U, and sret lands on the ecall.
 * The ecall from U-mode is delegated to the runtime's stvec; its trap path returns to S-mode after
 * the ecall (plat/sbi/trap.S sets SPP), with SIE as it was, and sie is restored. The host sees a
 * real ecall at the call site, as in M-mode.
 */
#define SYSCALL_STR_(x) #x
#define SYSCALL_STR(x) SYSCALL_STR_(x)
_Static_assert(SSTATUS_SPIE == SSTATUS_SIE << 4, "the shift below moves SIE to SPIE");
#define SYSCALL_CLOBBERS "t0", "t1", "t2", "memory"
/* clang-format off */
#define SYSCALL_INSN                                                                               \
    "csrrw t1, sie, zero\n"                                                                        \
    "csrr t0, sstatus\n"                                                                           \
    "andi t0, t0, " SYSCALL_STR(SSTATUS_SIE) "\n"                                                  \
    "slli t0, t0, 4\n"                                                                             \
    "li t2, " SYSCALL_STR(SSTATUS_SPP | SSTATUS_SPIE) "\n"                                         \
    "csrc sstatus, t2\n"                                                                           \
    "csrs sstatus, t0\n"                                                                           \
    "lla t2, 1f\n"                                                                                 \
    "csrw sepc, t2\n"                                                                              \
    "sret\n"                                                                                       \
    "1: ecall\n"                                                                                   \
    "csrw sie, t1"
/* clang-format on */
#else
#define SYSCALL_CLOBBERS "memory"
#define SYSCALL_INSN "ecall"
#endif

static inline long syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
    register long r_a0 __asm__("a0") = a0;
    register long r_a1 __asm__("a1") = a1;
    register long r_a2 __asm__("a2") = a2;
    register long r_a3 __asm__("a3") = a3;
    register long r_a4 __asm__("a4") = a4;
    register long r_a5 __asm__("a5") = a5;
    register long r_a7 __asm__("a7") = nr;
    __asm__ volatile(SYSCALL_INSN
                     : "+r"(r_a0)
                     : "r"(r_a1), "r"(r_a2), "r"(r_a3), "r"(r_a4), "r"(r_a5), "r"(r_a7)
                     : SYSCALL_CLOBBERS);
    return r_a0;
}

/* fd 1 and 2 go to the console, in one piece; other fds fail with -ERRNO_EBADF. */
long write(int fd, const void *buf, size_t len);

#endif /* RT_SYSCALL_H */
