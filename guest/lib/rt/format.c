/* printf-style formatting into a sink, plus snprintf/vsnprintf on top of it. */
#include "format.h"

#include <rt/printf.h>
#include <stdbool.h>
#include <stdint.h>

struct spec {
    bool left;     /* '-' */
    bool zero;     /* '0' */
    int width;     /* minimum field width */
    int precision; /* -1 when absent */
    int length;    /* count of 'l' (2 = long long); -1 'h', -2 'hh' */
};

struct out {
    struct format_sink *sink;
    int total;
};

static void put(struct out *o, char c) {
    struct format_sink *s = o->sink;
    if (s->len == s->cap && s->flush)
        s->flush(s);
    if (s->len < s->cap)
        s->buf[s->len++] = c;
    o->total++;
}

static void pad(struct out *o, char c, int n) {
    while (n-- > 0)
        put(o, c);
}

/* One field: [sign/prefix][zeros][body], padded to the width on the left or right. */
static void field(struct out *o, const struct spec *sp, const char *prefix, int zeros,
                  const char *body, int body_len) {
    int prefix_len = 0;
    while (prefix[prefix_len])
        prefix_len++;
    int used = prefix_len + zeros + body_len;
    int fill = sp->width > used ? sp->width - used : 0;

    /* '0' pads between the sign and the digits, and only when precision does not decide it. */
    if (sp->zero && !sp->left && sp->precision < 0) {
        zeros += fill;
        fill = 0;
    }
    if (!sp->left)
        pad(o, ' ', fill);
    for (int i = 0; i < prefix_len; i++)
        put(o, prefix[i]);
    pad(o, '0', zeros);
    for (int i = 0; i < body_len; i++)
        put(o, body[i]);
    if (sp->left)
        pad(o, ' ', fill);
}

static void number(struct out *o, const struct spec *sp, unsigned long long v, unsigned base,
                   bool upper, const char *prefix) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24]; /* 2^64 has 20 decimal digits */
    char body[24];
    int n = 0;
    /* C prints nothing for value 0 with precision 0. */
    if (!(v == 0 && sp->precision == 0)) {
        do {
            tmp[n++] = digits[v % base];
            v /= base;
        } while (v);
    }
    for (int i = 0; i < n; i++)
        body[i] = tmp[n - 1 - i];
    int zeros = sp->precision > n ? sp->precision - n : 0;
    field(o, sp, prefix, zeros, body, n);
}

static long long signed_arg(const struct spec *sp, va_list *ap) {
    if (sp->length >= 2)
        return va_arg(*ap, long long);
    if (sp->length == 1)
        return va_arg(*ap, long);
    int v = va_arg(*ap, int);
    return sp->length == -1 ? (short)v : sp->length == -2 ? (signed char)v : v;
}

static unsigned long long unsigned_arg(const struct spec *sp, va_list *ap) {
    if (sp->length >= 2)
        return va_arg(*ap, unsigned long long);
    if (sp->length == 1)
        return va_arg(*ap, unsigned long);
    unsigned v = va_arg(*ap, unsigned);
    return sp->length == -1 ? (unsigned short)v : sp->length == -2 ? (unsigned char)v : v;
}

static int read_int(const char **fmt, va_list *ap) {
    if (**fmt == '*') {
        (*fmt)++;
        return va_arg(*ap, int);
    }
    int v = 0;
    while (**fmt >= '0' && **fmt <= '9')
        v = v * 10 + (*(*fmt)++ - '0');
    return v;
}

/* Parses one conversion after its '%'; returns the conversion character. */
static char parse_spec(const char **fmt, struct spec *sp, va_list *ap) {
    *sp = (struct spec){.precision = -1};
    for (;; (*fmt)++) {
        if (**fmt == '-')
            sp->left = true;
        else if (**fmt == '0')
            sp->zero = true;
        else
            break;
    }
    sp->width = read_int(fmt, ap);
    if (sp->width < 0) { /* a negative '*' width means left-justify */
        sp->left = true;
        sp->width = -sp->width;
    }
    if (**fmt == '.') {
        (*fmt)++;
        sp->precision = read_int(fmt, ap);
        if (sp->precision < 0)
            sp->precision = -1;
    }
    for (;; (*fmt)++) {
        if (**fmt == 'l' && sp->length >= 0)
            sp->length++;
        else if (**fmt == 'h' && sp->length <= 0)
            sp->length--;
        else if (**fmt == 'z')
            sp->length = 1; /* size_t is unsigned long on rv64 */
        else
            break;
    }
    return **fmt ? *(*fmt)++ : 0;
}

static void conversion(struct out *o, char conv, const struct spec *sp, va_list *ap) {
    switch (conv) {
    case 'd':
    case 'i': {
        long long v = signed_arg(sp, ap);
        /* Negate in unsigned so LLONG_MIN does not overflow. */
        unsigned long long mag = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
        number(o, sp, mag, 10, false, v < 0 ? "-" : "");
        break;
    }
    case 'u':
        number(o, sp, unsigned_arg(sp, ap), 10, false, "");
        break;
    case 'x':
    case 'X':
        number(o, sp, unsigned_arg(sp, ap), 16, conv == 'X', "");
        break;
    case 'p':
        number(o, sp, (uintptr_t)va_arg(*ap, void *), 16, false, "0x");
        break;
    case 'c': {
        char c = (char)va_arg(*ap, int);
        struct spec plain = *sp;
        plain.zero = false;
        field(o, &plain, "", 0, &c, 1);
        break;
    }
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            s = "(null)";
        int n = 0;
        while (s[n] && (sp->precision < 0 || n < sp->precision))
            n++;
        struct spec plain = *sp;
        plain.zero = false;
        field(o, &plain, "", 0, s, n);
        break;
    }
    case '%':
        put(o, '%');
        break;
    default:
        /* Unknown conversions are shown as written, so the mistake is visible. */
        put(o, '%');
        if (conv)
            put(o, conv);
        break;
    }
}

int format(struct format_sink *sink, const char *fmt, va_list ap) {
    struct out o = {sink, 0};
    va_list args;
    va_copy(args, ap);
    while (*fmt) {
        if (*fmt != '%') {
            put(&o, *fmt++);
            continue;
        }
        fmt++;
        struct spec sp;
        char conv = parse_spec(&fmt, &sp, &args);
        conversion(&o, conv, &sp, &args);
    }
    va_end(args);
    return o.total;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
    /* Keep one byte for the terminating NUL. */
    struct format_sink sink = {buf, size ? size - 1 : 0, 0, 0};
    int n = format(&sink, fmt, ap);
    if (size)
        buf[sink.len] = 0;
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
