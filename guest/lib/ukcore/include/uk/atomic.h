/* Unikraft's atomics (lib/ukatomic): sequentially consistent __atomic builtins. */
#ifndef UK_ATOMIC_H
#define UK_ATOMIC_H

#define uk_load_n(src) __atomic_load_n(src, __ATOMIC_SEQ_CST)
#define uk_store_n(dst, value) __atomic_store_n(dst, value, __ATOMIC_SEQ_CST)
#define uk_fetch_add(src, value) __atomic_fetch_add(src, value, __ATOMIC_SEQ_CST)
#define uk_fetch_sub(src, value) __atomic_fetch_sub(src, value, __ATOMIC_SEQ_CST)
#define uk_inc(src) __atomic_add_fetch(src, 1, __ATOMIC_SEQ_CST)
#define uk_dec(src) __atomic_sub_fetch(src, 1, __ATOMIC_SEQ_CST)
#define uk_fetch_or(src, value) __atomic_fetch_or(src, value, __ATOMIC_SEQ_CST)
#define uk_fetch_and(src, value) __atomic_fetch_and(src, value, __ATOMIC_SEQ_CST)
#define uk_or(src, value) ((void)__atomic_fetch_or(src, value, __ATOMIC_SEQ_CST))
#define uk_and(src, value) ((void)__atomic_fetch_and(src, value, __ATOMIC_SEQ_CST))
#define uk_exchange_n(dst, value) __atomic_exchange_n(dst, value, __ATOMIC_SEQ_CST)
#define uk_compare_exchange_n(dst, exp, des)                                                       \
    __atomic_compare_exchange_n(dst, exp, des, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define UK_READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define UK_WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#endif /* UK_ATOMIC_H */
