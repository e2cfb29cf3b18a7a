/* Page arithmetic under Unikraft's names. */
#ifndef UK_PAGE_H
#define UK_PAGE_H

#include <uk/arch/limits.h>
#include <uk/essentials.h>

#define PAGE_ALIGN_UP(x) ALIGN_UP((__uptr)(x), __PAGE_SIZE)
#define PAGE_ALIGN_DOWN(x) ALIGN_DOWN((__uptr)(x), __PAGE_SIZE)
#define PAGE_ALIGNED(x) (((__uptr)(x) & (__PAGE_SIZE - 1)) == 0)
#define PAGE_COUNT(len) (DIV_ROUND_UP((__sz)(len), __PAGE_SIZE))

#endif /* UK_PAGE_H */
