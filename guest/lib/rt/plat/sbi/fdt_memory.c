/*
 * Where RAM ends, from the FDT's /memory nodes: under SBI firmware the FDT is not at the top of RAM
 * (OpenSBI fw_jump moves it low), so its address says nothing about the heap's end.
 */
#include "../../fdt.h"

#include <rt/string.h>
#include <stdint.h>

static uint32_t be32(const void *p) {
    return __builtin_bswap32(*(const uint32_t *)p);
}

/* A value of `cells` 32-bit cells (1 or 2). */
static uint64_t cells_value(const char *p, uint32_t cells) {
    return cells == 2 ? (uint64_t)be32(p) << 32 | be32(p + 4) : be32(p);
}

static int is_memory_node(const char *name) {
    return strcmp(name, "memory") == 0 || memcmp(name, "memory@", 7) == 0;
}

uintptr_t fdt_memory_end(const void *fdt, uintptr_t addr) {
    const struct fdt_header *hdr = fdt;
    if (be32(&hdr->magic) != FDT_MAGIC)
        return 0;
    const char *strings = (const char *)fdt + be32(&hdr->off_dt_strings);
    const char *p = (const char *)fdt + be32(&hdr->off_dt_struct);
    const char *end = p + be32(&hdr->size_dt_struct);
    /* The root's #address-cells and #size-cells; these are the specification's defaults. */
    uint32_t address_cells = 2, size_cells = 1;
    int depth = 0, in_memory = 0;

    while (p + 4 <= end) {
        uint32_t token = be32(p);
        p += 4;
        if (token == FDT_BEGIN_NODE) {
            size_t len = strlen(p);
            depth++;
            in_memory = depth == 2 && is_memory_node(p);
            p += (len + 1 + 3) & ~3UL;
        } else if (token == FDT_END_NODE) {
            in_memory = 0;
            depth--;
        } else if (token == FDT_PROP) {
            uint32_t len = be32(p);
            const char *name = strings + be32(p + 4);
            const char *value = p + 8;
            p = value + ((len + 3) & ~3U);
            if (depth == 1 && len == 4 && strcmp(name, "#address-cells") == 0)
                address_cells = be32(value);
            else if (depth == 1 && len == 4 && strcmp(name, "#size-cells") == 0)
                size_cells = be32(value);
            else if (in_memory && strcmp(name, "reg") == 0 && address_cells - 1 < 2 &&
                     size_cells - 1 < 2) {
                uint32_t entry = 4 * (address_cells + size_cells);
                for (uint32_t at = 0; at + entry <= len; at += entry) {
                    uint64_t base = cells_value(value + at, address_cells);
                    uint64_t size = cells_value(value + at + 4 * address_cells, size_cells);
                    if (base <= addr && addr - base < size)
                        return (uintptr_t)(base + size);
                }
            }
        } else if (token == FDT_END) {
            break;
        } else if (token != FDT_NOP) {
            return 0;
        }
    }
    return 0;
}
