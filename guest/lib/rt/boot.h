/* Runtime-private: the boot steps start.S calls into. */
#ifndef RUNTIME_BOOT_H
#define RUNTIME_BOOT_H

/* Set once by hart 0 when the runtime is ready; secondaries wait for it in start.S. */
extern unsigned boot_released;

/* Hart 0 only, with .bss cleared: learn the machine from the FDT, then release the others. */
void runtime_boot(const void *fdt);

/* Every hart: run app_main, collect results, and end the run from hart 0. */
__attribute__((noreturn)) void runtime_hart_main(void);

#endif /* RUNTIME_BOOT_H */
