/* Runtime-private: the boot steps the platform's start.S calls into. */
#ifndef RUNTIME_BOOT_H
#define RUNTIME_BOOT_H

/* The boot hart only, with .bss cleared and its id stored: learn the machine from the FDT, set up
 * the heap and barrier_all, then release or start the other harts (plat/<platform>/boot.c). */
void runtime_boot(const void *fdt);

/* Every hart: run app_main, collect results, and end the run from hart 0. */
__attribute__((noreturn)) void runtime_hart_main(void);

#endif /* RUNTIME_BOOT_H */
