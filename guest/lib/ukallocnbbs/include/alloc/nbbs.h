/*
 * Lock-free binary buddy page allocator after NBBS (library ukallocnbbs, configuration
 * bbuddy-lockfree). Its lib.toml names the init, so the allocator interface calls it; nothing
 * else needs to.
 */
#ifndef ALLOC_NBBS_H
#define ALLOC_NBBS_H

#include <alloc/alloc.h>

/* The allocator over [base, base + len): its tree takes the first pages; NULL if the range
 * cannot hold its own tree. */
struct uk_alloc *uk_allocnbbs_init(void *base, size_t len);
/* "bbuddy-lockfree". */
extern const char uk_allocnbbs_name[];

#endif /* ALLOC_NBBS_H */
