/*
 * Unikraft's assertions. They stay on (a broken allocator must stop the run where it broke,
 * not corrupt the heap further), each a panic naming file, line and condition.
 */
#ifndef UK_ASSERT_H
#define UK_ASSERT_H

#include <rt/panic.h>
#include <uk/essentials.h>

#define UK_ASSERT(x)                                                                               \
    do {                                                                                           \
        if (unlikely(!(x)))                                                                        \
            panic("%s:%d: assertion failed: %s", __FILE__, __LINE__, #x);                          \
    } while (0)
#define UK_BUGON(x)                                                                                \
    do {                                                                                           \
        if (unlikely(x))                                                                           \
            panic("%s:%d: bug: %s", __FILE__, __LINE__, #x);                                       \
    } while (0)
#define UK_BUG() panic("%s:%d: bug", __FILE__, __LINE__)
#define UK_CRASH(fmt, ...) panic(fmt, ##__VA_ARGS__)
#define UK_WARNIF(x)                                                                               \
    do {                                                                                           \
        if (unlikely(x))                                                                           \
            printf("[WARN] %s:%d: %s\n", __FILE__, __LINE__, #x);                                  \
    } while (0)

#endif /* UK_ASSERT_H */
