/*
 * errno, per hart, in the hart's own block (Unikraft's allocators set it on failure: errno =
 * ENOMEM). The numbers are the contract's, which are Linux's.
 */
#ifndef UK_ERRNO_H
#define UK_ERRNO_H

#include <contract.h>
#include <rt/hart.h>

#define errno (this_hart()->errno_value)

#define EPERM 1
#define ENOENT 2
#define EIO 5
#define EBADF ERRNO_EBADF
#define EAGAIN 11
#define ENOMEM ERRNO_ENOMEM
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define EINVAL ERRNO_EINVAL
#define ENOSPC 28
#define ERANGE 34
#define ENOSYS ERRNO_ENOSYS
#define ENOTSUP 95
#define EOVERFLOW 75

#endif /* UK_ERRNO_H */
