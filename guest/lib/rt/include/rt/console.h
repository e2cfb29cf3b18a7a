/* The console: the 16550 UART, shared by all harts. */
#ifndef RT_CONSOLE_H
#define RT_CONSOLE_H

#include <stddef.h>

/* Writes all n bytes under the console lock, so no other hart's bytes land in between. Called
 * by the write system call; apps use printf or write() so output passes through ecall. */
void console_write(const char *s, size_t n);

/* For panics: takes the lock if it can within a bounded time, writes regardless. */
void console_write_emergency(const char *s, size_t n);

#endif /* RT_CONSOLE_H */
