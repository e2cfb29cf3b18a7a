/*
 * Anonymous memory mappings through the mmap (222) and munmap (215) system calls, served by the
 * guest's own trap handler (alloc/mmap_shim.c, linked by the frontend configurations
 * `FRONTEND+PROVIDER[+shimlock]`). Linux numbers and flag values; posix-mmap-like limits:
 *
 * - only MAP_PRIVATE | MAP_ANONYMOUS (+ MAP_UNINITIALIZED: no zeroing); fd is ignored, offset
 *   must be 0, the address is a hint that is ignored; MAP_FIXED, MAP_SHARED, file mappings and
 *   unknown flags are -EINVAL; pages are zeroed unless MAP_UNINITIALIZED;
 * - a mapping of LEN bytes (rounded up to whole pages) is aligned to the largest power of two
 *   that divides the rounded length, up to MMAP_ALIGN_MAX: a multiple of 256 KiB is 256 KiB
 *   aligned, a single page only page-aligned. (POSIX promises page alignment; frontends that
 *   need aligned segments ask for a multiple of the alignment they need);
 * - munmap takes back whole mappings only: ADDR must be what mmap returned and LEN the same
 *   length (rounded to pages), else -EINVAL; the pages go back to the provider at once.
 *
 * Results are as from the raw Linux system call: an address, or -errno in [-4095, -1].
 */
#ifndef ALLOC_MMAP_H
#define ALLOC_MMAP_H

#include <stddef.h>
#include <stdint.h>

#define PROT_NONE 0x0
#define PROT_READ 0x1
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_UNINITIALIZED 0x4000000 /* skip zeroing (as Linux allows on no-MMU systems) */

/* Largest alignment a mapping gets (see above). */
#define MMAP_ALIGN_MAX (256UL << 10)

/* Live mappings the shim can record at once (its table, mmap_shim_table): one more fails with
 * -ENOMEM. */
#define MMAP_SHIM_SLOTS_SHIFT 10
#define MMAP_SHIM_SLOTS (1UL << MMAP_SHIM_SLOTS_SHIFT)

/* True when an mmap result is an error (-errno). */
static inline int mmap_failed(const void *p) {
    return (uintptr_t)p >= (uintptr_t)-4095;
}

/* The system calls (ecall); mmap returns the address or (void *)-errno, munmap 0 or -errno. */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t len);

/* Shim counters: mappings alive now, pages the shim holds from its provider. Exact when no
 * mmap or munmap is in flight. */
extern unsigned long mmap_shim_mappings;
extern unsigned long mmap_shim_pages;

#endif /* ALLOC_MMAP_H */
