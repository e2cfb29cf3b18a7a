/*
 * Unikraft's bit operations. The find-set-bit functions count from 0 and are undefined for 0,
 * as Unikraft's; the bitmap ones take (bit number, word array) and are atomic (AMOs), so an
 * allocator that updates a shared bitmap from several harts stays correct.
 */
#ifndef UK_BITOPS_H
#define UK_BITOPS_H

#include <uk/essentials.h>

static inline unsigned long uk_flsl(unsigned long x) {
    return 63 - (unsigned long)__builtin_clzl(x);
}
static inline unsigned long uk_ffsl(unsigned long x) {
    return (unsigned long)__builtin_ctzl(x);
}
static inline unsigned int uk_fls(unsigned int x) {
    return 31 - (unsigned int)__builtin_clz(x);
}
static inline unsigned int uk_ffs(unsigned int x) {
    return (unsigned int)__builtin_ctz(x);
}

#define UK_BITS_PER_LONG 64
#define UK_BIT_WORD(nr) ((nr) / UK_BITS_PER_LONG)
#define UK_BIT_MASK(nr) (1UL << ((nr) % UK_BITS_PER_LONG))

static inline int uk_test_bit(long nr, const volatile unsigned long *addr) {
    return (__atomic_load_n(&addr[UK_BIT_WORD(nr)], __ATOMIC_RELAXED) & UK_BIT_MASK(nr)) != 0;
}
static inline void uk_set_bit(long nr, volatile unsigned long *addr) {
    __atomic_fetch_or(&addr[UK_BIT_WORD(nr)], UK_BIT_MASK(nr), __ATOMIC_SEQ_CST);
}
static inline void uk_clear_bit(long nr, volatile unsigned long *addr) {
    __atomic_fetch_and(&addr[UK_BIT_WORD(nr)], ~UK_BIT_MASK(nr), __ATOMIC_SEQ_CST);
}
static inline int uk_test_and_set_bit(long nr, volatile unsigned long *addr) {
    return (__atomic_fetch_or(&addr[UK_BIT_WORD(nr)], UK_BIT_MASK(nr), __ATOMIC_SEQ_CST) &
            UK_BIT_MASK(nr)) != 0;
}
static inline int uk_test_and_clear_bit(long nr, volatile unsigned long *addr) {
    return (__atomic_fetch_and(&addr[UK_BIT_WORD(nr)], ~UK_BIT_MASK(nr), __ATOMIC_SEQ_CST) &
            UK_BIT_MASK(nr)) != 0;
}

#endif /* UK_BITOPS_H */
