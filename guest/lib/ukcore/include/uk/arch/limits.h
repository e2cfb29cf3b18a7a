/* Page size and word size under Unikraft's names, from the contract (4 KiB pages, rv64). */
#ifndef UK_ARCH_LIMITS_H
#define UK_ARCH_LIMITS_H

#include <contract.h>
#include <limits.h>

#define __PAGE_SHIFT PAGE_SHIFT
#define __PAGE_SIZE PAGE_SIZE
#define __PAGE_MASK (~(__PAGE_SIZE - 1))
#ifndef PAGE_MASK
#define PAGE_MASK __PAGE_MASK
#endif
#define __WORDSIZE 64
#define __WORDSIZE_SHIFT 6
#define __STACK_ALIGN_SIZE 16

#endif /* UK_ARCH_LIMITS_H */
