/* Fatal errors: print one line and end the run with GUEST_EXIT_PANIC. */
#ifndef RT_PANIC_H
#define RT_PANIC_H

/* Prints "hart H: panic: <message>" and exits; usable from trap handlers too. */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

#endif /* RT_PANIC_H */
