#ifndef __UK_ALLOCFIRSTFIT_H__
#define __UK_ALLOCFIRSTFIT_H__

#include <uk/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A first-fit page allocator over [base, base + len): its own state takes the first page. */
struct uk_alloc *uk_allocfirstfit_init(void *base, __sz len);

#ifdef __cplusplus
}
#endif

#endif /* __UK_ALLOCFIRSTFIT_H__ */
