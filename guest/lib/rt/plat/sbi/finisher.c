/*
 * The end of a run under SBI firmware. The sifive,test0 finisher first, written directly as in
 * M-mode: OpenSBI's root domain leaves it to S-mode, and only the finisher carries the exit code.
 * Where the firmware keeps it from S-mode the store faults, and the fault lands in finisher_fault,
 * which asks for SBI SRST shutdown: that keeps pass or fail at best (OpenSBI's sifive_test driver
 * writes FINISHER_PASS for reason "none" and FINISHER_FAIL with code 0 otherwise).
 */
#include "../../finisher.h"
#include "sbi.h"

#include <contract.h>
#include <rt/csr.h>
#include <rt/hart.h>
#include <stdint.h>

/* The trap vector while the finisher is written: a0 holds the exit code. Aligned as stvec wants. */
__attribute__((noreturn, aligned(4))) void finisher_fault(int code);

void finisher_fault(int code) {
    unsigned long reason = code == 0 ? SBI_SRST_REASON_NONE : SBI_SRST_REASON_SYSFAIL;
    struct sbiret ret =
        sbi_ecall(SBI_EXT_SRST, SBI_SRST_SYSTEM_RESET, SBI_SRST_SHUTDOWN, reason, 0);
    /* Still here: the firmware has no SRST (or refused), and S-mode has no other way out. */
    if (ret.error == SBI_ERR_NOT_SUPPORTED)
        sbi_report_unsupported(__func__, SBI_EXT_SRST, SBI_SRST_SYSTEM_RESET);
    hart_park();
}

void finisher_exit(int code) {
    /* The finisher carries 16 bits; apps keep to 0..GUEST_EXIT_MAX, and the emulator reports a
     * larger code with its own status rather than mistaking it for a panic. */
    code &= 0xffff;
    uint32_t value = code == 0 ? FINISHER_PASS : ((uint32_t)code << 16) | FINISHER_FAIL;

    /* Nothing may wake the hart again, so the loop below really is the end. */
    csr_write(sie, 0);
    csr_clear(sstatus, SSTATUS_SIE);
    csr_write(stvec, (uintptr_t)finisher_fault);
    /* One asm block so the store is followed by exactly `1: wfi; j 1b`, which the emulator
     * recognises as a parked hart; a0 is finisher_fault's argument should the store fault. */
    register long a0 __asm__("a0") = code;
    __asm__ volatile("sw %0, 0(%1)\n"
                     "1: wfi\n"
                     "j 1b\n" ::"r"(value),
                     "r"(FINISHER_BASE), "r"(a0)
                     : "memory");
    __builtin_unreachable();
}
