/*
 * mmap (222) and munmap (215) as real system calls, served in the guest's trap handler and
 * backed by the build's page allocator (the "provider": any backend configuration). Pages come
 * through the out-of-line uk_palloc / uk_pfree, so the host sees every page-layer call at those
 * symbols; with a frontend configured they delegate to the provider.
 *
 * Alignment: a mapping of n pages is aligned to A = the largest power of two dividing n pages
 * (at most MMAP_ALIGN_MAX). A provider that says it aligns every block to its own rounded-up
 * size (the capability UK_ALLOC_CAP_SIZE_ALIGNED: bbuddy, nbbs) is asked for n pages, which
 * already gives A; any other provider (region), or one whose block is not aligned after all, is
 * asked for n + A/page - 1 pages and the mapping starts at the first A-aligned address inside.
 * The shim asks the capability, never the provider's name. Each mapping is recorded (address,
 * provider base, provider pages, length) in mmap_shim_table so munmap hands the provider exactly
 * what it gave; munmap takes whole mappings only.
 *
 * Synchronization (MMAP_SHIM_LOCK): `spin` puts one spinlock (mmap_shim_lock) around each call,
 * provider included, so even an unlocked provider is safe; `none` takes no lock: the table is
 * lock-free (slots claimed by CAS) and the provider must be SMP-safe by itself.
 */
#include <alloc/alloc.h>
#include <alloc/mmap.h>
#include <rt/runtime.h>

#define MMAP_SHIM_LOCK_ID_none 0
#define MMAP_SHIM_LOCK_ID_spin 1
#ifndef MMAP_SHIM_LOCK
#define MMAP_SHIM_LOCK none
#endif
#define MMAP_SHIM_LOCK_ID ALLOC_CAT(MMAP_SHIM_LOCK_ID_, MMAP_SHIM_LOCK)

/* Open addressing, linear probing; a key is the mapping's address or one of these states. */
#define SLOT_EMPTY 0UL
#define SLOT_BUSY 1UL /* being filled or emptied by one hart */
#define SLOT_TOMB 2UL /* was used: lookups go on past it, inserts may take it */
#define SHIM_SLOTS_SHIFT MMAP_SHIM_SLOTS_SHIFT /* alloc/mmap.h */
#define SHIM_SLOTS MMAP_SHIM_SLOTS

struct mmap_record {
    uintptr_t key;       /* address returned by mmap, or SLOT_* */
    uintptr_t base;      /* what the provider returned */
    unsigned long pages; /* what the provider was asked for */
    size_t len;          /* mapping length in bytes, page-rounded */
};

/* In .data rather than .bss: zero-initialised all the same, but boot need not clear 32 KiB. */
struct mmap_record mmap_shim_table[SHIM_SLOTS] __attribute__((section(".data.mmap_shim")));
unsigned long mmap_shim_mappings;
unsigned long mmap_shim_pages;
spinlock_t mmap_shim_lock = SPINLOCK_INIT;

static unsigned long slot_of(uintptr_t addr) {
    return (unsigned long)(((addr >> PAGE_SHIFT) * 0x9E3779B97F4A7C15UL) >>
                           (64 - SHIM_SLOTS_SHIFT));
}

static int record_insert(uintptr_t addr, uintptr_t base, unsigned long pages, size_t len) {
    unsigned long h = slot_of(addr);
    for (unsigned long i = 0; i < SHIM_SLOTS; i++) {
        struct mmap_record *r = &mmap_shim_table[(h + i) & (SHIM_SLOTS - 1)];
        uintptr_t k = __atomic_load_n(&r->key, __ATOMIC_ACQUIRE);
        if ((k == SLOT_EMPTY || k == SLOT_TOMB) &&
            __atomic_compare_exchange_n(&r->key, &k, SLOT_BUSY, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            r->base = base;
            r->pages = pages;
            r->len = len;
            __atomic_store_n(&r->key, addr, __ATOMIC_RELEASE);
            return 0;
        }
    }
    return -1;
}

/* Take the record of the mapping [addr, addr + len) out of the table; 0 or -ERRNO_EINVAL. */
static int record_remove(uintptr_t addr, size_t len, uintptr_t *base, unsigned long *pages) {
    unsigned long h = slot_of(addr);
    for (unsigned long i = 0; i < SHIM_SLOTS; i++) {
        struct mmap_record *r = &mmap_shim_table[(h + i) & (SHIM_SLOTS - 1)];
        uintptr_t k = __atomic_load_n(&r->key, __ATOMIC_ACQUIRE);
        if (k == SLOT_EMPTY)
            break;
        if (k != addr)
            continue;
        /* mutate: equivalent: the claim decides only between two munmaps of one mapping */
        if (!__atomic_compare_exchange_n(&r->key, &k, SLOT_BUSY, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_RELAXED))
            break; /* another munmap of the same mapping won */
        if (r->len != len) {
            __atomic_store_n(&r->key, addr, __ATOMIC_RELEASE);
            break;
        }
        *base = r->base;
        *pages = r->pages;
        __atomic_store_n(&r->key, SLOT_TOMB, __ATOMIC_RELEASE);
        return 0;
    }
    return -ERRNO_EINVAL;
}

static void shim_lock(void) {
#if MMAP_SHIM_LOCK_ID == MMAP_SHIM_LOCK_ID_spin
    spin_lock(&mmap_shim_lock);
#endif
}

static void shim_unlock(void) {
#if MMAP_SHIM_LOCK_ID == MMAP_SHIM_LOCK_ID_spin
    spin_unlock(&mmap_shim_lock);
#endif
}

/* Pages of n (rounded) pages aligned to `align` bytes; *base and *pages as the provider gave. */
static uintptr_t provide(unsigned long n, uintptr_t align, uintptr_t *base, unsigned long *pages) {
    if (UK_ALLOC_PROVIDER_HAS(UK_ALLOC_CAP_SIZE_ALIGNED)) {
        void *p = uk_palloc(n);
        if (!p)
            return 0;
        if (((uintptr_t)p & (align - 1)) == 0) {
            *base = (uintptr_t)p;
            *pages = n;
            return (uintptr_t)p;
        }
        uk_pfree(p, n);
    }
    unsigned long more = n + (align >> PAGE_SHIFT) - 1;
    void *q = uk_palloc(more);
    if (!q)
        return 0;
    *base = (uintptr_t)q;
    *pages = more;
    return alloc_align_up((uintptr_t)q, align);
}

#define KNOWN_FLAGS (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_UNINITIALIZED)

static long sys_mmap(const unsigned long *args) {
    size_t len = args[1];
    unsigned long prot = args[2], flags = args[3], offset = args[5];
    if (len == 0 || (prot & ~(unsigned long)(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
        (flags & ~(unsigned long)KNOWN_FLAGS) || (flags & (MAP_SHARED | MAP_FIXED)) ||
        (flags & (MAP_PRIVATE | MAP_ANONYMOUS)) != (MAP_PRIVATE | MAP_ANONYMOUS) || offset)
        return -ERRNO_EINVAL;
    if (len > (1UL << 40))
        return -ERRNO_ENOMEM;
    len = alloc_align_up(len, PAGE_SIZE);
    unsigned long n = len >> PAGE_SHIFT;
    uintptr_t align = len & -len; /* largest power of two dividing len */
    if (align > MMAP_ALIGN_MAX)
        align = MMAP_ALIGN_MAX;
    uintptr_t base = 0, addr;
    unsigned long pages = 0;
    shim_lock();
    addr = provide(n, align, &base, &pages);
    if (addr && record_insert(addr, base, pages, len) != 0) {
        uk_pfree((void *)base, pages);
        addr = 0;
    }
    shim_unlock();
    if (!addr)
        return -ERRNO_ENOMEM;
    __atomic_fetch_add(&mmap_shim_mappings, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&mmap_shim_pages, pages, __ATOMIC_RELAXED);
    if (!(flags & MAP_UNINITIALIZED))
        memset((void *)addr, 0, len);
    return (long)addr;
}

static long sys_munmap(const unsigned long *args) {
    uintptr_t addr = args[0];
    size_t len = args[1];
    if (len == 0 || (addr & (PAGE_SIZE - 1)) || len > (1UL << 40))
        return -ERRNO_EINVAL;
    len = alloc_align_up(len, PAGE_SIZE);
    uintptr_t base;
    unsigned long pages;
    shim_lock();
    int rc = record_remove(addr, len, &base, &pages);
    if (rc == 0)
        uk_pfree((void *)base, pages);
    shim_unlock();
    if (rc != 0)
        return rc;
    __atomic_fetch_sub(&mmap_shim_mappings, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&mmap_shim_pages, pages, __ATOMIC_RELAXED);
    return 0;
}

SYSCALL_REGISTER(SYS_mmap, sys_mmap);
SYSCALL_REGISTER(SYS_munmap, sys_munmap);

void *mmap(void *addr, size_t len, int prot, int flags, int fd, long offset) {
    return (void *)syscall6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, offset);
}

int munmap(void *addr, size_t len) {
    return (int)syscall6(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0);
}
