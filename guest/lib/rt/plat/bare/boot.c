/* Boot in M-mode on hart 0: learn the machine from the FDT, then release the other harts, which
 * wait in start.S for boot_released and an IPI. */
#include "../../boot.h"

#include "../../fdt.h"
#include <rt/runtime.h>
#include <stdint.h>

/* Owned by hart.c; boot fills them in before any other hart runs. */
extern unsigned runtime_hart_count;
extern uintptr_t runtime_heap_start;
extern uintptr_t runtime_heap_end;
extern struct barrier runtime_all_harts;

extern char _end[];

/* Set once when the runtime is ready; secondaries wait for it in start.S. */
extern unsigned boot_released;

static void say(const char *s) {
    console_write(s, strlen(s));
}

/* The FDT sits near the end of RAM, above everything the image uses, so its address is also the
 * top of free RAM. Anything that is not a sane RAM address means an unknown loader started us. */
static int fdt_plausible(const void *fdt) {
    uintptr_t addr = (uintptr_t)fdt;
    return addr >= (uintptr_t)_end && addr % 8 == 0 &&
           addr < RAM_BASE + ((uintptr_t)RAM_MAX_MIB << 20);
}

void runtime_boot(const void *fdt) {
    /* Hands the contract's RAM_BASE to link.ld, whose ASSERT checks it against the link base. */
    __asm__(".globl __contract_image_base\n.set __contract_image_base, %0" ::"i"(RAM_BASE));

    int cpus = fdt_plausible(fdt) ? fdt_count_cpus(fdt) : -1;
    if (cpus < 1) {
        /* Without an FDT only hart 0 is known to exist, and only the smallest RAM. */
        say("runtime: no usable FDT, running hart 0 only\n");
        cpus = 1;
        fdt = (const void *)(RAM_BASE + ((uintptr_t)RAM_MIN_MIB << 20));
    }
    if (cpus > MAX_HARTS)
        cpus = MAX_HARTS;

    runtime_hart_count = (unsigned)cpus;
    runtime_heap_start = (uintptr_t)_end;
    runtime_heap_end = (uintptr_t)fdt; /* the FDT must survive: it is the top of the heap */
    barrier_init(&runtime_all_harts, runtime_hart_count);

    __atomic_store_n(&boot_released, 1, __ATOMIC_RELEASE);
    for (unsigned h = 1; h < runtime_hart_count; h++)
        ipi_send(h);
}
