/* Unikraft's older architecture atomics, the same builtins under their ukarch_ names. */
#ifndef UK_ARCH_ATOMIC_H
#define UK_ARCH_ATOMIC_H

#include <uk/atomic.h>

#define ukarch_load_n(src) uk_load_n(src)
#define ukarch_store_n(dst, v) uk_store_n(dst, v)
#define ukarch_fetch_add(src, v) uk_fetch_add(src, v)
#define ukarch_fetch_sub(src, v) uk_fetch_sub(src, v)
#define ukarch_inc(src) uk_inc(src)
#define ukarch_dec(src) uk_dec(src)
#define ukarch_exchange_n(dst, v) uk_exchange_n(dst, v)
#define ukarch_compare_exchange_sync(dst, exp, des) __sync_val_compare_and_swap(dst, exp, des)

#endif /* UK_ARCH_ATOMIC_H */
