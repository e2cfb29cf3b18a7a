/*
 * mhartid: every hart reads its own id (privileged spec, "Hart ID Register mhartid": the
 * integer ID of the hart running the code; QEMU virt also passes it in a0 at entry).
 *
 * - Each hart stores csrr mhartid at index a0 (the id it was started with); hart 0 checks every
 *   entry equals its index.
 * - The usual firmware pattern works: harts whose mhartid is not 0 park in a wfi loop (mie.MSIE
 *   set, MIE = 0) and hart 0 releases them with an IPI to msip[mhartid].
 *
 * Runs on every hart (PRIV_ALL_HARTS=1); meant for 1, 2, 4 and 8 harts.
 */
#include "priv.h"

static volatile ulong ids[PRIV_MAX_HARTS];
static volatile int ids_ok, parked, released, woke;

static int wait_count(volatile int *count, int target) {
    uint64_t end = mtime() + MTIME_HZ;
    while (__atomic_load_n(count, __ATOMIC_ACQUIRE) < target)
        if (mtime() > end)
            return 0;
    return 1;
}

void test_main(void) {
    int me = hart_id();
    ids[me] = csr_read(mhartid) + 1; /* + 1: 0 means "not written" */
    section("every hart arrives");
    CHECK(priv_barrier());
    if (me == 0) {
        int ok = 1;
        for (int h = 0; h < priv_nharts; h++) {
            section("mhartid equals the hart id passed in a0");
            CHECK_EQ(ids[h], h + 1UL);
            ok &= ids[h] == h + 1UL;
        }
        ids_ok = ok;
    }
    section("hart 0 checked the ids");
    CHECK(priv_barrier());
    if (!ids_ok)
        return; /* parking by mhartid would send every hart down the same path */

    ulong id = csr_read(mhartid);
    if (id != 0) {
        csr_write(mie, MIP_MSIP);
        __atomic_add_fetch(&parked, 1, __ATOMIC_ACQ_REL);
        while (!__atomic_load_n(&released, __ATOMIC_ACQUIRE) || !(csr_read(mip) & MIP_MSIP))
            __asm__ volatile("wfi" ::: "memory");
        *clint_msip((int)id) = 0;
        csr_write(mie, 0);
        __atomic_add_fetch(&woke, 1, __ATOMIC_ACQ_REL);
        return;
    }
    section("the other harts park by mhartid");
    CHECK(wait_count(&parked, priv_nharts - 1));
    __atomic_store_n(&released, 1, __ATOMIC_RELEASE);
    for (int h = 1; h < priv_nharts; h++)
        *clint_msip(h) = 1;
    section("hart 0's IPIs release them");
    CHECK(wait_count(&woke, priv_nharts - 1));
}

CHECKS_FIT();
