/* printf: format into a stack buffer, then one write(1, ...) so the line is atomic and passes
 * through the system-call path where the host can see it. */
#include "format.h"

#include <rt/printf.h>
#include <rt/syscall.h>

static void flush_to_stdout(struct format_sink *sink) {
    if (sink->len)
        write(1, sink->buf, sink->len);
    sink->len = 0;
}

int vprintf(const char *fmt, va_list ap) {
    char buf[PRINTF_BUFFER_SIZE];
    struct format_sink sink = {buf, sizeof buf, 0, flush_to_stdout};
    int n = format(&sink, fmt, ap);
    flush_to_stdout(&sink);
    return n;
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}
