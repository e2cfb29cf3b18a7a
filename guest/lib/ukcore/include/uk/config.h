/*
 * Unikraft's generated configuration, as far as this runtime fixes it: an SMP machine of up to
 * MAX_HARTS harts. A library's own options come from its Config.uk (toolchain/unikraft.py
 * passes their defaults as CONFIG_ macros); the build defines CONFIG_LIB<NAME> for every
 * library of the image.
 */
#ifndef UK_CONFIG_H
#define UK_CONFIG_H

#include <contract.h>

#ifndef CONFIG_HAVE_SMP
#define CONFIG_HAVE_SMP 1
#endif
#ifndef CONFIG_UKPLAT_LCPU_MAXCOUNT
#define CONFIG_UKPLAT_LCPU_MAXCOUNT MAX_HARTS
#endif
#ifndef CONFIG_ARCH_RISCV_64
#define CONFIG_ARCH_RISCV_64 1
#endif

#endif /* UK_CONFIG_H */
