/* Unikraft's fixed-width type names (__u8 ... __u64, __sz, __uptr, ...) for rv64. */
#ifndef UK_ARCH_TYPES_H
#define UK_ARCH_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef uint8_t __u8;
typedef int8_t __s8;
typedef uint16_t __u16;
typedef int16_t __s16;
typedef uint32_t __u32;
typedef int32_t __s32;
typedef uint64_t __u64;
typedef int64_t __s64;
typedef size_t __sz;
typedef long __ssz;
typedef uintptr_t __uptr;
typedef intptr_t __sptr;
typedef uintptr_t __vaddr_t;
typedef uintptr_t __paddr_t;
typedef long __off;
typedef uint64_t __nsec;

#define __PRIsz "zu"
#define __PRIssz "zd"
#define __PRIuptr "lx"

#endif /* UK_ARCH_TYPES_H */
