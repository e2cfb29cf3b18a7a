/* CLINT time: mtime for reading the clock, mtimecmp[h] for waking hart h (its MTIP stays raised
 * while mtime >= mtimecmp[h]). Waiting on them is time_wait.c's. */
#include <contract.h>
#include <rt/hart.h>
#include <rt/mmio.h>
#include <rt/time.h>
#include <stdint.h>

uint64_t mtime_read(void) {
    return mmio_read64(CLINT_BASE + CLINT_MTIME);
}

void mtimecmp_write(uint64_t when) {
    mmio_write64(CLINT_BASE + CLINT_MTIMECMP + 8 * (uintptr_t)hart_id(), when);
}
