/*
 * Binary buddy page allocator (library ukallocbbuddy, after Unikraft's ukallocbbuddy), locked as
 * ALLOC_LOCK says (none, spin, ticket, perorder). Its lib.toml names the init, so the allocator
 * interface calls it; nothing else needs to.
 */
#ifndef ALLOC_BBUDDY_H
#define ALLOC_BBUDDY_H

#include <alloc/alloc.h>

/* The allocator over [base, base + len): its state takes the first page; NULL if it does not
 * fit (less than two pages). */
struct uk_alloc *uk_allocbbuddy_init(void *base, size_t len);
/* "bbuddy-" and the lock policy, e.g. "bbuddy-spin". */
extern const char uk_allocbbuddy_name[];

#endif /* ALLOC_BBUDDY_H */
