/*
 * Boot in S-mode under SBI firmware, on the one hart the firmware entered us on (any hart: its id
 * came in a0). Learn the harts and RAM from the FDT, then start every other hart through the HSM
 * extension at hart_start_entry (start.S).
 */
#include "../../boot.h"

#include "../../fdt.h"
#include "sbi.h"
#include <rt/runtime.h>
#include <stdint.h>

/* Owned by hart.c; boot fills them in before any other hart runs. */
extern unsigned runtime_hart_count;
extern uintptr_t runtime_heap_start;
extern uintptr_t runtime_heap_end;
extern struct barrier runtime_all_harts;

extern char _end[];
extern char hart_start_entry[];

/* The firmware hands over its own copy of the FDT, anywhere in RAM (OpenSBI fw_jump moves it to
 * 0x82200000, QEMU's firmware leaves it near the top): anything else means a foreign loader. */
static int fdt_plausible(const void *fdt) {
    uintptr_t addr = (uintptr_t)fdt;
    return addr >= RAM_BASE && addr % 8 == 0 && addr < RAM_BASE + ((uintptr_t)RAM_MAX_MIB << 20);
}

void runtime_boot(const void *fdt) {
    /* Hands the contract's KERNEL_BASE to link.ld as the link address (__image_base) and for its
     * ASSERT (__contract_image_base). */
    __asm__(".globl __image_base\n.set __image_base, %0\n"
            ".globl __contract_image_base\n.set __contract_image_base, %0" ::"i"(KERNEL_BASE));

    unsigned self = hart_id();
    int cpus = fdt_plausible(fdt) ? fdt_count_cpus(fdt) : -1;
    uintptr_t ram_end = cpus > 0 ? fdt_memory_end(fdt, KERNEL_BASE) : 0;
    /* Hart ids are 0..cpus-1 (runtime/README.md), so the boot hart must be among them. */
    if (cpus < 1 || ram_end <= (uintptr_t)_end || self >= (unsigned)cpus)
        panic("no usable FDT at %p from the SBI firmware (%d cpus, RAM up to 0x%lx)", fdt, cpus,
              (unsigned long)ram_end);
    if (cpus > MAX_HARTS)
        cpus = MAX_HARTS;

    runtime_hart_count = (unsigned)cpus;
    runtime_heap_start = (uintptr_t)_end;
    /* The FDT is read once, here: the heap may cover it, up to the end of RAM. */
    runtime_heap_end = ram_end;
    barrier_init(&runtime_all_harts, runtime_hart_count);

    /* Everything this hart wrote must be visible to the harts it starts. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (unsigned h = 0; h < runtime_hart_count; h++) {
        if (h == self)
            continue;
        struct sbiret ret =
            sbi_call(SBI_EXT_HSM, SBI_HSM_HART_START, h, (uintptr_t)hart_start_entry, 0);
        if (ret.error != SBI_SUCCESS)
            panic("the SBI firmware did not start hart %u (HSM hart_start error %ld)", h,
                  ret.error);
    }
}
