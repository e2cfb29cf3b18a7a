/*
 * Region (bump) allocator (library ukallocregion, after Unikraft's ukallocregion). Its lib.toml
 * names the init, so the allocator interface calls it; nothing else needs to.
 */
#ifndef ALLOC_REGION_H
#define ALLOC_REGION_H

#include <alloc/alloc.h>

/* The allocator over [base, base + len): its state is static, so it never fails. */
struct uk_alloc *uk_allocregion_init(void *base, size_t len);
/* "region". */
extern const char uk_allocregion_name[];

#endif /* ALLOC_REGION_H */
