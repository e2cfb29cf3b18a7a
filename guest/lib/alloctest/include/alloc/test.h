/*
 * A small test harness in the manner of Unikraft's uktest, for apps that run on every hart.
 *
 * An app lists its cases in a table and calls test_run from app_main on every hart. Each case
 * runs between barriers, on hart 0 only or on every hart (TEST_ALL_HARTS). A failed EXPECT
 * prints one line at once, from the hart that saw it:
 *
 *     FAIL hart H FILE:LINE: EXPR
 *
 * and hart 0 prints one line per case and a closing line:
 *
 *     PASS NAME | FAIL NAME | SKIP NAME: REASON
 *     N passed, N failed
 *
 * Skipped cases count as neither. test_run returns 1 on hart 0 if any case failed, else 0.
 */
#ifndef ALLOC_TEST_H
#define ALLOC_TEST_H

#include <rt/runtime.h>

#define TEST_ALL_HARTS 1u

struct test_case {
    const char *name;
    void (*run)(unsigned hart, unsigned nharts);
    unsigned flags;   /* TEST_ALL_HARTS */
    const char *skip; /* non-NULL: the reason the case does not apply to this build */
};

/* Failures seen during the current case, by any hart. */
extern unsigned long test_case_failures;

static inline void test_fail(const char *file, int line, const char *expr) {
    __atomic_fetch_add(&test_case_failures, 1, __ATOMIC_RELAXED);
    printf("FAIL hart %u %s:%d: %s\n", hart_id(), file, line, expr);
}

/* Evaluates to cond's truth, so a case can stop when a precondition fails. */
#define EXPECT(cond) ((cond) ? 1 : (test_fail(__FILE__, __LINE__, #cond), 0))

#define EXPECT_EQ(a, b)                                                                            \
    ({                                                                                             \
        long long test_a_ = (long long)(a), test_b_ = (long long)(b);                              \
        if (test_a_ != test_b_)                                                                    \
            printf("  (%s = %lld, %s = %lld)\n", #a, test_a_, #b, test_b_);                        \
        EXPECT(test_a_ == test_b_);                                                                \
    })

static inline int test_run(const struct test_case *cases, unsigned count, unsigned hart,
                           unsigned nharts) {
    unsigned passed = 0, failed = 0;
    for (unsigned i = 0; i < count; i++) {
        const struct test_case *c = &cases[i];
        barrier_all();
        if (c->skip) {
            if (hart == 0)
                printf("SKIP %s: %s\n", c->name, c->skip);
            continue;
        }
        if (hart == 0)
            __atomic_store_n(&test_case_failures, 0, __ATOMIC_RELAXED);
        barrier_all();
        if (hart == 0 || (c->flags & TEST_ALL_HARTS))
            c->run(hart, nharts);
        barrier_all();
        if (hart == 0) {
            int ok = __atomic_load_n(&test_case_failures, __ATOMIC_RELAXED) == 0;
            printf("%s %s\n", ok ? "PASS" : "FAIL", c->name);
            if (ok)
                passed++;
            else
                failed++;
        }
    }
    if (hart != 0)
        return 0;
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif /* ALLOC_TEST_H */
