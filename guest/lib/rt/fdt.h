/*
 * Runtime-private: the little the runtime reads from the flattened device tree, and the format.
 * The structure block is a stream of big-endian 32-bit tokens: BEGIN_NODE + name, PROP + len +
 * nameoff + value, END_NODE, NOP, END, each padded to 4; property names are offsets into the
 * strings block.
 */
#ifndef RUNTIME_FDT_H
#define RUNTIME_FDT_H

#include <stdint.h>

#define FDT_MAGIC 0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_NOP 4
#define FDT_END 9

struct fdt_header {
    uint32_t magic;
    uint32_t totalsize;
    uint32_t off_dt_struct;
    uint32_t off_dt_strings;
    uint32_t off_mem_rsvmap;
    uint32_t version;
    uint32_t last_comp_version;
    uint32_t boot_cpuid_phys;
    uint32_t size_dt_strings;
    uint32_t size_dt_struct;
};

/* Number of /cpus/cpu@N nodes in the FDT at `fdt`, or -1 if `fdt` is not a valid FDT. */
int fdt_count_cpus(const void *fdt);

/* plat/sbi: the end of the /memory region that holds `addr`, or 0 if the FDT has none. */
uintptr_t fdt_memory_end(const void *fdt, uintptr_t addr);

#endif /* RUNTIME_FDT_H */
