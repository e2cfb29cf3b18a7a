/*
 * The allocator interface (library ukalloc, after Unikraft's lib/ukalloc): one table of
 * operations that every allocator fills in (struct uk_alloc), the entry points apps call, and
 * how an allocator library plugs in. The allocators are libraries of their own, each in its
 * folder under guest/lib with a README:
 *
 *   ukalloc         this interface: entry points (out of line, so the host sees each call at
 *                   its symbol), SMP-safe statistics, registration, alloc_init
 *   ukallocifpages  objects on a page allocator: a header in front of each object
 *   ukallocbbuddy   backend: binary buddy page allocator, locked as ALLOC_LOCK says
 *   ukallocnbbs     backend: lock-free binary buddy page allocator (NBBS)
 *   ukallocregion   backend: bump allocator, an atomic bump pointer, frees do nothing
 *   mimalloc        frontend: per-hart heaps of small blocks on segments from mmap
 *   mmapshim        mmap/munmap system calls served from the backend's pages
 *
 * An image links at most one backend, its page allocator; the build configuration
 * (guest/configs.toml) names it. A composed configuration FRONTEND+PROVIDER[+OPTION] also links
 * a frontend, which then serves the object calls while the backend (its provider) serves the
 * page calls. Nothing in this library names an allocator: they plug in as "Registration" below
 * says.
 */
#ifndef ALLOC_ALLOC_H
#define ALLOC_ALLOC_H

/* PAGE_SHIFT, PAGE_SIZE (4 KiB) and the errno values (ERRNO_ENOMEM, ERRNO_EINVAL) are the
 * contract's; there is no errno variable in this runtime. */
#include <contract.h>
#include <stddef.h>
#include <stdint.h>

/* Tokens given as macros (-DALLOC_LOCK=spin) turned into numbers for #if, and into strings. */
#define ALLOC_CAT_(a, b) a##b
#define ALLOC_CAT(a, b) ALLOC_CAT_(a, b)
#define ALLOC_STR_(x) #x
#define ALLOC_STR(x) ALLOC_STR_(x)

/*
 * The app_main of an app built without what it needs: hart 0 says so and the run fails (exit 1).
 * An app that needs an allocator (or the frontend) starts its body with
 *
 *     #ifndef CONFIG_LIBUKALLOC
 *     ALLOC_APP_NEEDS_ALLOCATOR("alloc-cost")
 *     #else
 *
 * (CONFIG_LIBMIMALLOC / ALLOC_APP_NEEDS_FRONTEND): the build defines CONFIG_LIB<NAME> for every
 * library of the image. printf must be declared (rt/runtime.h).
 */
#define ALLOC_APP_UNAVAILABLE(app, why)                                                            \
    int app_main(unsigned hart, unsigned nharts) {                                                 \
        (void)nharts;                                                                              \
        if (hart == 0)                                                                             \
            printf(app ": " why "\n");                                                             \
        return 1;                                                                                  \
    }
#define ALLOC_APP_NEEDS_ALLOCATOR(app)                                                             \
    ALLOC_APP_UNAVAILABLE(app, "no allocator in this build; use --config bbuddy-spin (or "         \
                               "another)")
#define ALLOC_APP_NEEDS_FRONTEND(app)                                                              \
    ALLOC_APP_UNAVAILABLE(app, "needs a frontend configuration; use --config "                     \
                               "mimalloc+bbuddy-spin (or another mimalloc+PROVIDER)")

/*
 * Planted bugs (guest/lib/ukalloc/README.md): -DALLOC_BUG=NAME turns one on, for
 * showing the oracle and schedule exploration at work; ALLOC_BUG_IS(NAME) tests for it (0 when
 * ALLOC_BUG is not defined, so every #if ALLOC_BUG_IS(..) block is compiled out by default).
 */
#define ALLOC_BUG_ID_overlap 1
#define ALLOC_BUG_ID_misalign 2
#define ALLOC_BUG_ID_lost_pages 3
#define ALLOC_BUG_ID_palloc_nolock 4
#define ALLOC_BUG_ID_remote_free_plain 5
#define ALLOC_BUG_ID_no_collect 6
#define ALLOC_BUG_ID_claim_plain 7
#define ALLOC_BUG_ID_climb_once 8
#define ALLOC_BUG_ID_take_all_plain 9
#ifdef ALLOC_BUG
#define ALLOC_BUG_ID ALLOC_CAT(ALLOC_BUG_ID_, ALLOC_BUG)
#if ALLOC_BUG_ID < 1 || ALLOC_BUG_ID > 9
#error "ALLOC_BUG must be overlap, misalign, lost_pages, palloc_nolock, remote_free_plain, \
no_collect, claim_plain, climb_once or take_all_plain"
#endif
#define ALLOC_BUG_IS(name) (ALLOC_BUG_ID == ALLOC_BUG_ID_##name)
#else
#define ALLOC_BUG_IS(name) 0
#endif

/*
 * Counters kept for every allocator by the entry points, with __atomic operations so that harts
 * may update them concurrently (Unikraft's are not SMP-safe). Sizes are in bytes; a palloc of n
 * pages counts as n * PAGE_SIZE bytes, an object as its usable size (getsize).
 */
struct uk_alloc_stats {
    size_t last_alloc_size;
    size_t max_alloc_size;
    size_t min_alloc_size; /* 0 until the first allocation */
    unsigned long tot_nb_allocs;
    unsigned long tot_nb_frees;
    unsigned long cur_nb_allocs;
    unsigned long max_nb_allocs;
    size_t cur_mem_use;
    size_t max_mem_use;
    unsigned long nb_enomem;
};

/*
 * One allocator. Operations a backend cannot do are left NULL; the entry points then fail
 * (NULL, -ERRNO_EINVAL or -1). Sizes and counts returned as long are negative when unknown.
 */
struct uk_alloc {
    /* Objects. malloc(0) returns a distinct pointer that free accepts; free(NULL) is a no-op. */
    void *(*malloc)(struct uk_alloc *a, size_t size);
    void *(*calloc)(struct uk_alloc *a, size_t nmemb, size_t size);
    void *(*realloc)(struct uk_alloc *a, void *ptr, size_t size);
    /* 0, ERRNO_EINVAL (align not a power of two multiple of sizeof(void *)) or ERRNO_ENOMEM. */
    int (*posix_memalign)(struct uk_alloc *a, void **memptr, size_t align, size_t size);
    void *(*memalign)(struct uk_alloc *a, size_t align, size_t size);
    void (*free)(struct uk_alloc *a, void *ptr);
    size_t (*getsize)(struct uk_alloc *a, const void *ptr); /* usable bytes at ptr */

    /* Pages: page-aligned runs of num_pages pages; pfree must get the same num_pages. */
    void *(*palloc)(struct uk_alloc *a, unsigned long num_pages);
    void (*pfree)(struct uk_alloc *a, void *ptr, unsigned long num_pages);

    /* Sizes: free bytes/pages in total, and the largest single allocation possible now. */
    long (*availmem)(struct uk_alloc *a);
    long (*pavailmem)(struct uk_alloc *a);
    long (*maxalloc)(struct uk_alloc *a);
    long (*pmaxalloc)(struct uk_alloc *a);

    /* Hand the allocator more memory: 0, or -ERRNO_EINVAL if it cannot use [base, base+len). */
    int (*addmem)(struct uk_alloc *a, void *base, size_t len);

    /* Copy of the counters below (alloc_stats_snapshot does it for every backend here). */
    void (*stats)(struct uk_alloc *a, struct uk_alloc_stats *dst);

    struct uk_alloc_stats counters; /* written only by alloc.c, atomically */

    /* An allocator's own state may follow the table (Unikraft's libraries put it here and
     * reach it as a->priv); it adds nothing to the size of the table. */
    unsigned char priv[0] __attribute__((aligned(8)));
};

/* Set up the image's allocator over [heap_start(), heap_end()) (call once, on hart 0). */
int alloc_init(void);
/* The same over [base, base + len), for callers that keep part of the heap for later. */
int alloc_init_range(void *base, size_t len);
/* The default allocator (see "Registration" below); NULL before alloc_init. */
struct uk_alloc *uk_alloc_default(void);

/* Entry points over the default allocator; out of line so the host sees them at symbols. */
#define ALLOC_API __attribute__((noinline))
ALLOC_API void *uk_malloc(size_t size);
ALLOC_API void *uk_calloc(size_t nmemb, size_t size); /* NULL when nmemb * size overflows */
ALLOC_API void *uk_realloc(void *ptr, size_t size);   /* (NULL, n) = malloc; (p, 0) frees */
ALLOC_API int uk_posix_memalign(void **memptr, size_t align, size_t size);
ALLOC_API void *uk_memalign(size_t align, size_t size);
ALLOC_API void uk_free(void *ptr);
ALLOC_API void *uk_palloc(unsigned long num_pages);
ALLOC_API void uk_pfree(void *ptr, unsigned long num_pages);
ALLOC_API long uk_availmem(void);
ALLOC_API long uk_pavailmem(void);
ALLOC_API long uk_maxalloc(void);
ALLOC_API long uk_pmaxalloc(void);
ALLOC_API int uk_addmem(void *base, size_t len);
ALLOC_API void uk_alloc_stats(struct uk_alloc_stats *dst);

/*
 * Registration, after Unikraft's uk_alloc_register. An allocator library names its init in its
 * lib.toml (`init`) and the build hands it to this interface as a macro:
 *
 *   UK_ALLOC_BACKEND_INIT   struct uk_alloc *init(void *base, size_t len): the backend over
 *                           [base, base + len), or NULL when it cannot;
 *   UK_ALLOC_BACKEND_NAME   const char name[]: the backend's name in messages (the library
 *                           defines X_name beside X_init), alloc_backend_name to apps;
 *   UK_ALLOC_FRONTEND_INIT  struct uk_alloc *init(struct uk_alloc *provider): the frontend over
 *                           the allocator it gets its pages from, or NULL if that is NULL.
 *
 * alloc_init_range calls the backend's init directly and registers what it built
 * (uk_alloc_register, in alloc.c): the first allocator registered becomes the default, the one
 * behind the uk_* entry points. In an image with a frontend, the frontend registers itself over
 * it: its init gets that allocator as its provider, and the frontend becomes the default. The
 * libraries never call the registration themselves, so nothing in them names another library.
 */
#ifdef UK_ALLOC_BACKEND_INIT
struct uk_alloc *UK_ALLOC_BACKEND_INIT(void *base, size_t len);
extern const char UK_ALLOC_BACKEND_NAME[];
#define alloc_backend_name UK_ALLOC_BACKEND_NAME
#endif
#ifdef UK_ALLOC_FRONTEND_INIT
struct uk_alloc *UK_ALLOC_FRONTEND_INIT(struct uk_alloc *provider);
#endif

/*
 * Capabilities: what the image's page allocator (its backend, the provider under a frontend)
 * promises beyond the interface. A backend lists them in its lib.toml (`caps`) and the build
 * passes their sum as UK_ALLOC_CAPS, so code that depends on one asks for it, never for a
 * backend by name, and an out-of-tree backend only declares its own. The answer is known at
 * build time: UK_ALLOC_PROVIDER_HAS(cap) is a constant (usable in #if), so asking costs nothing
 * and a branch on it compiles to the branch it selects.
 */
#define UK_ALLOC_CAP_SIZE_ALIGNED 0x1 /* palloc(n) is aligned to n pages rounded up to 2^k */
#define UK_ALLOC_CAP_FREES_PAGES 0x2  /* pfree gives pages back: pavailmem counts them again */
#ifndef UK_ALLOC_CAPS
#define UK_ALLOC_CAPS 0
#endif
#define UK_ALLOC_PROVIDER_HAS(cap) (((UK_ALLOC_CAPS) & (cap)) == (cap))

/* stats operation shared by all allocators: an atomic read of each counter. */
void alloc_stats_snapshot(struct uk_alloc *a, struct uk_alloc_stats *dst);

/* Cheap invariant checks, always on: a broken allocator stops the run with a panic. */
#define ALLOC_ASSERT(cond)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            alloc_assert_failed(__FILE__, __LINE__, #cond);                                        \
    } while (0)
__attribute__((noreturn)) void alloc_assert_failed(const char *file, int line, const char *expr);

static inline int alloc_is_pow2(size_t x) {
    return x && !(x & (x - 1));
}
static inline uintptr_t alloc_align_up(uintptr_t x, uintptr_t align) {
    return (x + align - 1) & ~(align - 1);
}

#endif /* ALLOC_ALLOC_H */
