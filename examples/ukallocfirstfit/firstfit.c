/* SPDX-License-Identifier: MIT */
/*
 * First-fit page allocator, written the way a Unikraft allocator library is (it builds in
 * Unikraft's lib/ and, unchanged, against smp-alloc-emulator's runtime).
 *
 * Free memory is a list of runs of pages, sorted by address. Each free run keeps its header in
 * its own first page: the run's length in pages and the next run. palloc takes the first run
 * long enough, from its end (so the header stays put unless the run is used up); pfree puts
 * the pages back in address order and merges them with the runs on either side.
 *
 * One spinlock serializes every operation (CONFIG_LIBUKALLOCFIRSTFIT_LOCK). Without it the
 * allocator is correct on one core only: two cores can take the same run.
 */
#include <errno.h>
#include <string.h>
#include <uk/alloc_impl.h>
#include <uk/allocfirstfit.h>
#include <uk/arch/limits.h>
#include <uk/assert.h>
#include <uk/atomic.h>
#include <uk/essentials.h>
#include <uk/page.h>
#include <uk/print.h>
#include <uk/spinlock.h>

struct ff_run {
	unsigned long pages;	/* length of this free run */
	struct ff_run *next;	/* the next free run, at a higher address */
};

struct uk_ffalloc {
	struct ff_run *free_head;
	unsigned long nr_free_pages;
	struct uk_spinlock lock;
};

#define ff_of(a) ((struct uk_ffalloc *)&(a)->priv)

#if CONFIG_LIBUKALLOCFIRSTFIT_LOCK
#define ff_lock(ff) uk_spin_lock(&(ff)->lock)
#define ff_unlock(ff) uk_spin_unlock(&(ff)->lock)
#else
#define ff_lock(ff) do { } while (0)
#define ff_unlock(ff) do { } while (0)
#endif

static void *ff_palloc(struct uk_alloc *a, unsigned long num_pages)
{
	struct uk_ffalloc *ff = ff_of(a);
	struct ff_run **link, *run;
	__uptr start = 0;

	if (unlikely(num_pages == 0 || num_pages > (~0UL >> __PAGE_SHIFT))) {
		errno = EINVAL;
		return NULL;
	}

	ff_lock(ff);
	for (link = &ff->free_head; (run = *link) != NULL; link = &run->next) {
		if (run->pages < num_pages)
			continue;
		if (run->pages == num_pages) {
			*link = run->next;
			start = (__uptr)run;
		} else {
			run->pages -= num_pages;
			start = (__uptr)run + (run->pages << __PAGE_SHIFT);
		}
		ff->nr_free_pages -= num_pages;
		break;
	}
	ff_unlock(ff);

	if (!start) {
		errno = ENOMEM;
		return NULL;
	}
	return (void *)start;
}

static void ff_pfree(struct uk_alloc *a, void *ptr, unsigned long num_pages)
{
	struct uk_ffalloc *ff = ff_of(a);
	struct ff_run **link, *prev = NULL, *run = ptr;
	__uptr end;

	if (!ptr)
		return;
	UK_ASSERT(PAGE_ALIGNED(ptr));
	if (unlikely(num_pages == 0))
		num_pages = 1;
	end = (__uptr)ptr + (num_pages << __PAGE_SHIFT);

	ff_lock(ff);
	for (link = &ff->free_head; *link && (__uptr)*link < (__uptr)ptr;
	     link = &(*link)->next)
		prev = *link;
	/* A free run overlapping the pages given back is a double free. */
	UK_BUGON(*link && (__uptr)*link < end);
	UK_BUGON(prev && (__uptr)prev + (prev->pages << __PAGE_SHIFT) > (__uptr)ptr);

	run->pages = num_pages;
	run->next = *link;
	*link = run;
	if (run->next && (__uptr)run->next == end) {
		run->pages += run->next->pages;
		run->next = run->next->next;
	}
	if (prev && (__uptr)prev + (prev->pages << __PAGE_SHIFT) == (__uptr)run) {
		prev->pages += run->pages;
		prev->next = run->next;
	}
	ff->nr_free_pages += num_pages;
	ff_unlock(ff);
}

static int ff_addmem(struct uk_alloc *a, void *base, __sz len)
{
	__uptr start = PAGE_ALIGN_UP((__uptr)base);
	__uptr end = PAGE_ALIGN_DOWN((__uptr)base + len);

	if (end <= start)
		return -EINVAL;
	ff_pfree(a, (void *)start, (end - start) >> __PAGE_SHIFT);
	return 0;
}

static long ff_pavailmem(struct uk_alloc *a)
{
	return (long)uk_load_n(&ff_of(a)->nr_free_pages);
}

static long ff_pmaxalloc(struct uk_alloc *a)
{
	struct uk_ffalloc *ff = ff_of(a);
	struct ff_run *run;
	unsigned long most = 0;

	ff_lock(ff);
	for (run = ff->free_head; run; run = run->next)
		most = MAX(most, run->pages);
	ff_unlock(ff);
	return (long)most;
}

struct uk_alloc *uk_allocfirstfit_init(void *base, __sz len)
{
	struct uk_alloc *a;
	struct uk_ffalloc *ff;
	__uptr start = PAGE_ALIGN_UP((__uptr)base);
	__uptr end = PAGE_ALIGN_DOWN((__uptr)base + len);

	UK_CTASSERT(sizeof(struct uk_alloc) + sizeof(struct uk_ffalloc) <= __PAGE_SIZE);
	/* Our state takes a page; the rest must hold at least one more. */
	if (end <= start || end - start < 2 * __PAGE_SIZE) {
		uk_pr_err("ukallocfirstfit: %" __PRIsz " bytes are too few\n", len);
		return NULL;
	}

	a = (struct uk_alloc *)start;
	ff = ff_of(a);
	memset(a, 0, __PAGE_SIZE);
	uk_spin_init(&ff->lock);
	uk_alloc_init_palloc(a, ff_palloc, ff_pfree, ff_pmaxalloc, ff_pavailmem,
			     ff_addmem);
	if (ff_addmem(a, (void *)(start + __PAGE_SIZE), end - start - __PAGE_SIZE) < 0)
		return NULL;
	uk_pr_debug("ukallocfirstfit: %lu pages at %p\n", ff->nr_free_pages, a);
	return a;
}
