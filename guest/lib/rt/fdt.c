/* Just enough FDT reading to count CPUs (the format: fdt.h). */
#include "fdt.h"

#include <stdint.h>

static uint32_t be32(uint32_t v) {
    return __builtin_bswap32(v);
}

static int has_prefix(const char *s, const char *prefix) {
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

static int equal(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Length of the NUL-terminated name at s, or -1 if it runs past end. */
static long name_len(const char *s, const char *end) {
    for (const char *p = s; p < end; p++)
        if (*p == 0)
            return p - s;
    return -1;
}

int fdt_count_cpus(const void *fdt) {
    const struct fdt_header *hdr = fdt;
    if (be32(hdr->magic) != FDT_MAGIC)
        return -1;

    const char *base = (const char *)fdt + be32(hdr->off_dt_struct);
    const char *end = base + be32(hdr->size_dt_struct);
    const char *p = base;
    int depth = 0;
    int in_cpus = 0; /* inside /cpus (depth 1 node named "cpus") */
    int cpus = 0;

    while (p + 4 <= end) {
        uint32_t token = be32(*(const uint32_t *)p);
        p += 4;
        switch (token) {
        case FDT_BEGIN_NODE: {
            long len = name_len(p, end);
            if (len < 0)
                return -1;
            depth++;
            /* /cpus also holds cpu-map; only cpu@N nodes are harts. */
            if (depth == 2 && equal(p, "cpus"))
                in_cpus = 1;
            else if (depth == 3 && in_cpus && has_prefix(p, "cpu@"))
                cpus++;
            p += (len + 1 + 3) & ~3L;
            break;
        }
        case FDT_END_NODE:
            if (depth == 2)
                in_cpus = 0;
            depth--;
            break;
        case FDT_PROP: {
            if (p + 8 > end)
                return -1;
            uint32_t len = be32(*(const uint32_t *)p);
            p += 8 + ((len + 3) & ~3U);
            break;
        }
        case FDT_NOP:
            break;
        case FDT_END:
            return cpus;
        default:
            return -1;
        }
    }
    return -1;
}
