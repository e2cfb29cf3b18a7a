/* The attributes and small arithmetic Unikraft code takes for granted. */
#ifndef UK_ESSENTIALS_H
#define UK_ESSENTIALS_H

#include <stddef.h>
#include <uk/arch/types.h>
#include <uk/config.h>

#define __unused __attribute__((unused))
#define __maybe_unused __attribute__((unused))
#define __used __attribute__((used))
#define __noreturn __attribute__((noreturn))
#define __packed __attribute__((packed))
#define __weak __attribute__((weak))
#define __align(a) __attribute__((aligned(a)))
#define __noinline __attribute__((noinline))
#define __always_inline inline __attribute__((always_inline))
#define __printf(f, a) __attribute__((format(printf, f, a)))
#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#define __offsetof(type, member) offsetof(type, member)
#define __containerof(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define UK_CTASSERT(x) _Static_assert(x, #x)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
/* Alignments are powers of two. */
#define ALIGN_UP(v, a) (((v) + (a) - 1) & ~((a) - 1))
#define ALIGN_DOWN(v, a) ((v) & ~((a) - 1))
#define IS_ALIGNED(v, a) (((v) & ((a) - 1)) == 0)

#endif /* UK_ESSENTIALS_H */
