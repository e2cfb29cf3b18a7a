/*
 * alloc-seq: a fixed sequence of allocator calls with known arguments, so that a test can
 * compare the host's allocation trace with it. Each call is printed right after it returns, as
 *
 *   seq hart=H n=N call=NAME args=A[,B,..] result=R
 *
 * N counts the hart's calls from 1; pointers are 0x-hex; `result=-` for free and pfree; for
 * posix_memalign args are (memptr, align, size) and the line ends `result=RC ptr=P`, P being
 * what was stored at memptr. Nothing else calls the allocator: alloc_init (hart 0, before the
 * first barrier) builds it without going through any uk_* entry point.
 *
 * Hart 0, on any number of harts:
 *   n  call                                 result
 *   1  uk_malloc(24)                        a
 *   2  uk_calloc(3, 40)                     b
 *   3  uk_realloc(b, 200)                   b2 (b itself on bbuddy: it fits in b's page)
 *   4  uk_memalign(64, 100)                 c
 *   5  uk_posix_memalign(&d, 128, 300)      0, d
 *   6  uk_palloc(3)                         g
 *   7  uk_free(a)
 *   8  uk_free(b2)
 *   9  uk_free(c)
 *  10  uk_free(d)
 *  11  uk_pfree(g, 3)
 *  12  uk_malloc(64)                        h, only with 2 harts or more: hart 1 frees it
 * then a barrier; hart 1 (with 2 harts or more) then makes:
 *   1  uk_malloc(40)                        e
 *   2  uk_calloc(5, 24)                     f
 *   3  uk_realloc(f, 5000)                  f2 (moved on bbuddy: 5000 bytes need 2 pages)
 *   4  uk_memalign(256, 64)                 k
 *   5  uk_posix_memalign(&m, 32, 1000)      0, m
 *   6  uk_palloc(1)                         g1
 *   7  uk_free(h)                           a remote free: h is hart 0's
 *   8  uk_free(e)
 *   9  uk_free(f2)
 *  10  uk_free(k)
 *  11  uk_free(m)
 *  12  uk_pfree(g1, 1)
 * Harts 2 and up make no call. Hart 0 closes with `alloc-seq: done`; exit code 0, or 2 when an
 * allocation failed (`alloc-seq: hart H call N failed`).
 */
#include <alloc/alloc.h>
#include <rt/runtime.h>

#ifndef CONFIG_LIBUKALLOC
ALLOC_APP_NEEDS_ALLOCATOR("alloc-seq")
#else

/* Hart 0's block for hart 1 to free; published before the barrier between the two. */
static void *volatile handoff;

struct seq {
    unsigned hart;
    unsigned n;
    int failed;
};

static void *got(struct seq *s, const char *call, const char *args, void *result) {
    printf("seq hart=%u n=%u call=%s args=%s result=%p\n", s->hart, ++s->n, call, args, result);
    if (!result && !s->failed) {
        s->failed = 1;
        printf("alloc-seq: hart %u call %u failed\n", s->hart, s->n);
    }
    return result;
}

static void seq_malloc(struct seq *s, void **out, size_t size) {
    char args[24];
    snprintf(args, sizeof(args), "%zu", size);
    *out = got(s, "malloc", args, uk_malloc(size));
}

static void seq_calloc(struct seq *s, void **out, size_t nmemb, size_t size) {
    char args[48];
    snprintf(args, sizeof(args), "%zu,%zu", nmemb, size);
    *out = got(s, "calloc", args, uk_calloc(nmemb, size));
}

static void seq_realloc(struct seq *s, void **inout, size_t size) {
    char args[48];
    snprintf(args, sizeof(args), "%p,%zu", *inout, size);
    void *moved = uk_realloc(*inout, size);
    got(s, "realloc", args, moved);
    if (moved)
        *inout = moved;
}

static void seq_memalign(struct seq *s, void **out, size_t align, size_t size) {
    char args[48];
    snprintf(args, sizeof(args), "%zu,%zu", align, size);
    *out = got(s, "memalign", args, uk_memalign(align, size));
}

static void seq_posix_memalign(struct seq *s, void **out, size_t align, size_t size) {
    void *p = NULL;
    int rc = uk_posix_memalign(&p, align, size);
    printf("seq hart=%u n=%u call=posix_memalign args=%p,%zu,%zu result=%d ptr=%p\n", s->hart,
           ++s->n, (void *)&p, align, size, rc, rc ? NULL : p);
    if (rc && !s->failed) {
        s->failed = 1;
        printf("alloc-seq: hart %u call %u failed\n", s->hart, s->n);
    }
    *out = rc ? NULL : p;
}

static void seq_palloc(struct seq *s, void **out, unsigned long pages) {
    char args[24];
    snprintf(args, sizeof(args), "%lu", pages);
    *out = got(s, "palloc", args, uk_palloc(pages));
}

static void seq_free(struct seq *s, void *p) {
    uk_free(p);
    printf("seq hart=%u n=%u call=free args=%p result=-\n", s->hart, ++s->n, p);
}

static void seq_pfree(struct seq *s, void *p, unsigned long pages) {
    uk_pfree(p, pages);
    printf("seq hart=%u n=%u call=pfree args=%p,%lu result=-\n", s->hart, ++s->n, p, pages);
}

static int hart0(unsigned nharts) {
    struct seq s = {0, 0, 0};
    void *a, *b, *c, *d, *g, *h;
    seq_malloc(&s, &a, 24);
    seq_calloc(&s, &b, 3, 40);
    seq_realloc(&s, &b, 200);
    seq_memalign(&s, &c, 64, 100);
    seq_posix_memalign(&s, &d, 128, 300);
    seq_palloc(&s, &g, 3);
    if (s.failed)
        return 2;
    seq_free(&s, a);
    seq_free(&s, b);
    seq_free(&s, c);
    seq_free(&s, d);
    seq_pfree(&s, g, 3);
    if (nharts >= 2) {
        seq_malloc(&s, &h, 64);
        handoff = h;
    }
    return s.failed ? 2 : 0;
}

static int hart1(void) {
    struct seq s = {1, 0, 0};
    void *e, *f, *k, *m, *g;
    void *h = handoff;
    seq_malloc(&s, &e, 40);
    seq_calloc(&s, &f, 5, 24);
    seq_realloc(&s, &f, 5000);
    seq_memalign(&s, &k, 256, 64);
    seq_posix_memalign(&s, &m, 32, 1000);
    seq_palloc(&s, &g, 1);
    if (s.failed)
        return 2;
    seq_free(&s, h);
    seq_free(&s, e);
    seq_free(&s, f);
    seq_free(&s, k);
    seq_free(&s, m);
    seq_pfree(&s, g, 1);
    return 0;
}

int app_main(unsigned hart, unsigned nharts) {
    int rc = 0;
    if (hart == 0) {
        if (alloc_init() != 0)
            return 1;
        printf("alloc-seq: %s, %u harts\n", alloc_backend_name, nharts);
    }
    barrier_all();
    if (hart == 0)
        rc = hart0(nharts);
    barrier_all();
    if (hart == 1 && handoff)
        rc = hart1();
    barrier_all();
    if (hart == 0 && !rc)
        printf("alloc-seq: done\n");
    return rc;
}
#endif
