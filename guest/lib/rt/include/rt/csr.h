/*
 * Machine-mode CSR access and the ISA bit positions the runtime uses. The bit values are plain
 * integers so start.S can include this file too.
 */
#ifndef RT_CSR_H
#define RT_CSR_H

#define MSTATUS_MIE (1 << 3)
#define MSTATUS_MPIE (1 << 7)
#define MSTATUS_MPP (3 << 11)
#define MSTATUS_FS (3 << 13)
#define MSTATUS_FS_INITIAL (1 << 13)

#define MIE_MSIE (1 << 3)
#define MIE_MTIE (1 << 7)

#ifndef __ASSEMBLER__

/* Every access clobbers memory: CSR writes change interrupt state, which orders memory accesses
 * as far as the program is concerned. */
#define csr_read(csr)                                                                              \
    ({                                                                                             \
        unsigned long csr_value_;                                                                  \
        __asm__ volatile("csrr %0, " #csr : "=r"(csr_value_)::"memory");                           \
        csr_value_;                                                                                \
    })

#define csr_write(csr, val)                                                                        \
    __asm__ volatile("csrw " #csr ", %0" ::"r"((unsigned long)(val)) : "memory")

#define csr_set(csr, bits)                                                                         \
    __asm__ volatile("csrs " #csr ", %0" ::"r"((unsigned long)(bits)) : "memory")

#define csr_clear(csr, bits)                                                                       \
    __asm__ volatile("csrc " #csr ", %0" ::"r"((unsigned long)(bits)) : "memory")

/* Set bits and return the old value in one instruction (no window for an interrupt between). */
#define csr_read_set(csr, bits)                                                                    \
    ({                                                                                             \
        unsigned long csr_value_;                                                                  \
        __asm__ volatile("csrrs %0, " #csr ", %1"                                                  \
                         : "=r"(csr_value_)                                                        \
                         : "r"((unsigned long)(bits))                                              \
                         : "memory");                                                              \
        csr_value_;                                                                                \
    })

#define csr_read_clear(csr, bits)                                                                  \
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
