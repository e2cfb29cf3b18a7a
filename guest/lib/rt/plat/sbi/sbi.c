/* SBI calls that must work, and what the runtime says when the firmware lacks one. */
#include "sbi.h"

#include "../../finisher.h"
#include <contract.h>
#include <rt/console.h>
#include <rt/hart.h>
#include <rt/printf.h>

#define SBI_LINE 160

static const char *extension_name(unsigned long ext) {
    switch (ext) {
    case SBI_EXT_LEGACY_PUTCHAR:
        return "legacy console putchar";
    case SBI_EXT_BASE:
        return "BASE";
    case SBI_EXT_TIME:
        return "TIME";
    case SBI_EXT_IPI:
        return "IPI";
    case SBI_EXT_HSM:
        return "HSM";
    case SBI_EXT_SRST:
        return "SRST";
    case SBI_EXT_DBCN:
        return "DBCN";
    default:
        return "?";
    }
}

void sbi_report_unsupported(const char *caller, unsigned long ext, unsigned long fid) {
    char line[SBI_LINE];
    int len = snprintf(line, sizeof line,
                       "hart %u: SBI extension %s (0x%lx) function %lu is not implemented by the "
                       "firmware (called by %s)\n",
                       hart_id(), extension_name(ext), ext, fid, caller);
    if (len > SBI_LINE - 1)
        len = SBI_LINE - 1;
    console_write_emergency(line, (size_t)len);
}

struct sbiret sbi_call_from(const char *caller, unsigned long ext, unsigned long fid,
                            unsigned long arg0, unsigned long arg1, unsigned long arg2) {
    struct sbiret ret = sbi_ecall(ext, fid, arg0, arg1, arg2);
    if (ret.error == SBI_ERR_NOT_SUPPORTED) {
        sbi_report_unsupported(caller, ext, fid);
        finisher_exit(GUEST_EXIT_NO_SBI);
    }
    return ret;
}

bool sbi_probe(unsigned long ext) {
    struct sbiret ret = sbi_ecall(SBI_EXT_BASE, SBI_BASE_PROBE_EXTENSION, ext, 0, 0);
    return ret.error == SBI_SUCCESS && ret.value != 0;
}
