/* The sifive,test0 finisher: the one way a run ends, on QEMU and on the emulator. */
#include "../../finisher.h"

#include <contract.h>
#include <rt/csr.h>
#include <stdint.h>

void finisher_exit(int code) {
    /* The finisher carries 16 bits; apps keep to 0..GUEST_EXIT_MAX, and the emulator reports a
     * larger code with its own status rather than mistaking it for a panic. */
    code &= 0xffff;
    uint32_t value = code == 0 ? FINISHER_PASS : ((uint32_t)code << 16) | FINISHER_FAIL;

    /* Nothing may wake the hart again, so the loop below really is the end. */
    csr_write(mie, 0);
    csr_clear(mstatus, MSTATUS_MIE);
    /* One asm block so the store is followed by exactly `1: wfi; j 1b`, which the emulator
     * recognises as a parked hart. */
    __asm__ volatile("sw %0, 0(%1)\n"
                     "1: wfi\n"
                     "j 1b\n" ::"r"(value),
                     "r"(FINISHER_BASE)
                     : "memory");
    __builtin_unreachable();
}
