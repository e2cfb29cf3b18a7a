/*
 * Formatted output. Conversions: %d %i %u %x %X %p %s %c %%, length modifiers hh h l ll z,
 * flags '-' and '0', width and precision (digits or '*').
 *
 * printf formats into a 256-byte buffer and hands it to one write(1, ...) call, so a line of up
 * to 256 bytes is never interleaved with another hart's output; longer output goes out in
 * 256-byte pieces.
 */
#ifndef RT_PRINTF_H
#define RT_PRINTF_H

#include <stdarg.h>
#include <stddef.h>

#define PRINTF_BUFFER_SIZE 256

__attribute__((format(printf, 1, 2))) int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);

/* Return the length the full output would have, like C99; buf always ends with NUL if size > 0. */
__attribute__((format(printf, 3, 4))) int snprintf(char *buf, size_t size, const char *fmt, ...);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

#endif /* RT_PRINTF_H */
