/* Runtime-private: ending the run through the test finisher. */
#ifndef RUNTIME_FINISHER_H
#define RUNTIME_FINISHER_H

/* Writes the finisher and parks in `1: wfi; j 1b`; on QEMU the write itself ends the process.
 * Exit paths that cannot trust the trap path (panics) call this directly. */
__attribute__((noreturn)) void finisher_exit(int code);

#endif /* RUNTIME_FINISHER_H */
