/* Runtime-private: the formatter shared by printf and snprintf. */
#ifndef RUNTIME_FORMAT_H
#define RUNTIME_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

/* Output goes to buf[0..cap); when it is full, flush (if any) empties it by resetting len,
 * otherwise further output is dropped (but still counted). */
struct format_sink {
    char *buf;
    size_t cap;
    size_t len;
    void (*flush)(struct format_sink *sink);
};

/* Returns the number of characters the output has in full. */
int format(struct format_sink *sink, const char *fmt, va_list ap);

#endif /* RUNTIME_FORMAT_H */
