/*
 * Memory and string functions. The mem* ones move a word at a time when alignment allows: the
 * compiler calls them for struct copies and allocators clear whole pages with them.
 * -ffreestanding keeps clang from turning these loops back into calls to themselves.
 */
#include <rt/string.h>
#include <stdint.h>

/* may_alias: word access to memory whose declared type is something else. */
typedef unsigned long __attribute__((may_alias)) word_t;
#define WORD sizeof(word_t)

static int aligned(const void *p) {
    return ((uintptr_t)p & (WORD - 1)) == 0;
}

void *memset(void *dst, int c, size_t n) {
    unsigned char *d = dst;
    while (n && !aligned(d)) {
        *d++ = (unsigned char)c;
        n--;
    }
    word_t pattern = (unsigned char)c * (word_t)0x0101010101010101UL;
    for (; n >= WORD; n -= WORD, d += WORD)
        *(word_t *)d = pattern;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

/* Ascending copy: correct for disjoint buffers and for overlaps with dst below src. */
static void copy_forward(unsigned char *d, const unsigned char *s, size_t n) {
    if (((uintptr_t)d & (WORD - 1)) == ((uintptr_t)s & (WORD - 1))) {
        while (n && !aligned(d)) {
            *d++ = *s++;
            n--;
        }
        for (; n >= WORD; n -= WORD, d += WORD, s += WORD)
            *(word_t *)d = *(const word_t *)s;
    }
    while (n--)
        *d++ = *s++;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    copy_forward(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    /* Copying forwards is safe unless the destination starts inside the source. */
    if ((uintptr_t)d - (uintptr_t)s >= n) {
        copy_forward(d, s, n);
        return dst;
    }
    while (n--)
        d[n] = s[n];
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}
