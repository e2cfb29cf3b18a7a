/*
 * Runtime-private (plat/sbi): calls into the SBI firmware below us (the RISC-V SBI specification:
 * `ecall` from S-mode with the extension in a7, the function in a6, arguments in a0..a5; the
 * error comes back in a0 and the value in a1).
 */
#ifndef RUNTIME_SBI_H
#define RUNTIME_SBI_H

#include <stdbool.h>

#define SBI_EXT_LEGACY_PUTCHAR 0x01 /* SBI v0.1 console_putchar: a0 = the byte */
#define SBI_EXT_BASE 0x10
#define SBI_EXT_TIME 0x54494D45 /* "TIME" */
#define SBI_EXT_IPI 0x735049    /* "sPI" */
#define SBI_EXT_HSM 0x48534D    /* "HSM" */
#define SBI_EXT_SRST 0x53525354 /* "SRST" */
#define SBI_EXT_DBCN 0x4442434E /* "DBCN" */

#define SBI_BASE_PROBE_EXTENSION 3
#define SBI_TIME_SET_TIMER 0
#define SBI_IPI_SEND_IPI 0
#define SBI_HSM_HART_START 0
#define SBI_SRST_SYSTEM_RESET 0
#define SBI_SRST_SHUTDOWN 0
#define SBI_SRST_REASON_NONE 0
#define SBI_SRST_REASON_SYSFAIL 1
#define SBI_DBCN_WRITE 0

#define SBI_SUCCESS 0
#define SBI_ERR_NOT_SUPPORTED (-2)

struct sbiret {
    long error;
    long value;
};

/* One SBI call, as it is: the caller looks at .error. */
static inline struct sbiret sbi_ecall(unsigned long ext, unsigned long fid, unsigned long arg0,
                                      unsigned long arg1, unsigned long arg2) {
    register unsigned long a0 __asm__("a0") = arg0;
    register unsigned long a1 __asm__("a1") = arg1;
    register unsigned long a2 __asm__("a2") = arg2;
    register unsigned long a6 __asm__("a6") = fid;
    register unsigned long a7 __asm__("a7") = ext;
    __asm__ volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a2), "r"(a6), "r"(a7) : "memory");
    return (struct sbiret){(long)a0, (long)a1};
}

/* A call the runtime cannot do without: when the firmware answers SBI_ERR_NOT_SUPPORTED, one
 * console line names the extension, the function and the runtime function that called, and the
 * run ends with GUEST_EXIT_NO_SBI. Any other result is returned. */
#define sbi_call(ext, fid, arg0, arg1, arg2) sbi_call_from(__func__, ext, fid, arg0, arg1, arg2)
struct sbiret sbi_call_from(const char *caller, unsigned long ext, unsigned long fid,
                            unsigned long arg0, unsigned long arg1, unsigned long arg2);

/* Whether the firmware implements extension `ext` (BASE probe_extension; false when the
 * firmware has no BASE extension either, as SBI v0.1 firmware). */
bool sbi_probe(unsigned long ext);

/* Prints "hart H: SBI extension NAME (0xEXT) function F is not implemented by the firmware (called
 * by CALLER)". */
void sbi_report_unsupported(const char *caller, unsigned long ext, unsigned long fid);

#endif /* RUNTIME_SBI_H */
