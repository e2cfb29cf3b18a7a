/*
 * CSR access, the ISA bit positions the runtime uses, and the names of the trap and interrupt
 * CSRs of the mode the runtime runs in. The bit values are plain integers so start.S can include
 * this file too.
 *
 * The runtime runs in M-mode (plat/bare, CONFIG_PLAT_BARE) or in S-mode under SBI firmware
 * (plat/sbi, CONFIG_PLAT_SBI). Code meant for both uses the names below the bit positions:
 * CSR_STATUS, CSR_IE, CSR_TVEC, STATUS_IE, IE_SOFT, IE_TIMER, IRQ_SOFT, IRQ_TIMER.
 */
#ifndef RT_CSR_H
#define RT_CSR_H

#include <contract.h>

#define MSTATUS_MIE (1 << 3)
#define MSTATUS_MPIE (1 << 7)
#define MSTATUS_MPP (3 << 11)
#define MSTATUS_FS (3 << 13)
#define MSTATUS_FS_INITIAL (1 << 13)

#define MIE_MSIE (1 << 3)
#define MIE_MTIE (1 << 7)

/* sstatus is a view of mstatus: FS is at the same place. */
#define SSTATUS_SIE (1 << 1)
#define SSTATUS_SPIE (1 << 5)
#define SSTATUS_SPP (1 << 8)

#define SIE_SSIE (1 << 1)
#define SIE_STIE (1 << 5)
#define SIP_SSIP (1 << 1)

#if CONFIG_PLAT_SBI
#define CSR_STATUS sstatus
#define CSR_IE sie
#define CSR_IP sip
#define CSR_TVEC stvec
#define STATUS_IE SSTATUS_SIE
#define IE_SOFT SIE_SSIE
#define IE_TIMER SIE_STIE
#define IRQ_SOFT IRQ_S_SOFT
#define IRQ_TIMER IRQ_S_TIMER
#define CSR_PREFIX "s" /* of the trap CSRs' names in messages: scause, sepc, stval */
#else
#define CSR_STATUS mstatus
#define CSR_IE mie
#define CSR_IP mip
#define CSR_TVEC mtvec
#define STATUS_IE MSTATUS_MIE
#define IE_SOFT MIE_MSIE
#define IE_TIMER MIE_MTIE
#define IRQ_SOFT IRQ_M_SOFT
#define IRQ_TIMER IRQ_M_TIMER
#define CSR_PREFIX "m"
#endif

#ifndef __ASSEMBLER__

/* Every access clobbers memory: CSR writes change interrupt state, which orders memory accesses
 * as far as the program is concerned. Each macro takes a CSR's name or one of the CSR_* names
 * above (expanded before it is pasted into the instruction). */
#define csr_read(csr) csr_read_(csr)
#define csr_write(csr, val) csr_write_(csr, val)
#define csr_set(csr, bits) csr_set_(csr, bits)
#define csr_clear(csr, bits) csr_clear_(csr, bits)
#define csr_read_set(csr, bits) csr_read_set_(csr, bits)
#define csr_read_clear(csr, bits) csr_read_clear_(csr, bits)

#define csr_read_(csr)                                                                             \
    ({                                                                                             \
        unsigned long csr_value_;                                                                  \
        __asm__ volatile("csrr %0, " #csr : "=r"(csr_value_)::"memory");                           \
        csr_value_;                                                                                \
    })

#define csr_write_(csr, val)                                                                       \
    __asm__ volatile("csrw " #csr ", %0" ::"r"((unsigned long)(val)) : "memory")

#define csr_set_(csr, bits)                                                                        \
    __asm__ volatile("csrs " #csr ", %0" ::"r"((unsigned long)(bits)) : "memory")

#define csr_clear_(csr, bits)                                                                      \
    __asm__ volatile("csrc " #csr ", %0" ::"r"((unsigned long)(bits)) : "memory")

/* Set bits and return the old value in one instruction (no window for an interrupt between). */
#define csr_read_set_(csr, bits)                                                                   \
    ({                                                                                             \
        unsigned long csr_value_;                                                                  \
        __asm__ volatile("csrrs %0, " #csr ", %1"                                                  \
                         : "=r"(csr_value_)                                                        \
                         : "r"((unsigned long)(bits))                                              \
                         : "memory");                                                              \
        csr_value_;                                                                                \
    })

#define csr_read_clear_(csr, bits)                                                                 \
    ({                                                                                             \
        unsigned long csr_value_;                                                                  \
        __asm__ volatile("csrrc %0, " #csr ", %1"                                                  \
                         : "=r"(csr_value_)                                                        \
                         : "r"((unsigned long)(bits))                                              \
                         : "memory");                                                              \
        csr_value_;                                                                                \
    })

#endif /* __ASSEMBLER__ */
#endif /* RT_CSR_H */
