"""Heap walker for ukallocfirstfit, a plugin of smp-alloc-emulator's oracle (--check): it reads
the free-run list out of guest memory, with the structures' layouts from the image's DWARF, and
says which invariant broke. The oracle calls it at the end of a run, at a violation and every
N instructions with --check-every N, only while no hart is inside an allocator call."""

import itertools

PAGE = 4096


class FirstFitWalker:
    name = "ukallocfirstfit"

    def __init__(self, ctx, state, run):
        self.ctx = ctx
        self.state = state  # struct uk_ffalloc's members
        self.run = run  # struct ff_run's members
        self.alloc = ctx.layout("uk_alloc")

    def _runs(self):
        """(address, pages) of every free run in list order, and the errors met on the way."""
        mem, a = self.ctx.memory, self.ctx.allocator()
        ff = a + self.alloc["priv"].offset
        runs, errors, seen = [], [], set()
        node = mem.u64(ff + self.state["free_head"].offset)
        while node:
            if node in seen:
                errors.append(f"the free list has a cycle at {node:#x}")
                break
            if not mem.valid(node, 16):
                errors.append(f"free run at {node:#x} lies outside RAM")
                break
            seen.add(node)
            runs.append((node, mem.u64(node + self.run["pages"].offset)))
            node = mem.u64(node + self.run["next"].offset)
        return runs, errors

    def check(self):
        if not self.ctx.allocator():
            return []
        runs, errors = self._runs()
        for (a, pages), (b, _) in itertools.pairwise(runs):
            if a % PAGE:
                errors.append(f"free run {a:#x} is not page-aligned")
            if pages == 0:
                errors.append(f"free run {a:#x} has no pages")
            end = a + pages * PAGE
            if end > b:
                errors.append(f"free runs {a:#x} (+{pages} pages) and {b:#x} overlap")
            elif end == b:
                errors.append(f"free runs {a:#x} and {b:#x} touch but were not merged")
        listed = sum(p for _, p in runs)
        counted = self.free_pages()
        if counted != listed:
            errors.append(f"nr_free_pages is {counted}, the free runs hold {listed}")
        return errors

    def free_pages(self):
        a = self.ctx.allocator()
        if not a:
            return None
        ff = a + self.alloc["priv"].offset
        return self.ctx.memory.u64(ff + self.state["nr_free_pages"].offset)

    def own_mappings(self):
        return set()


def walker(ctx):
    """The walker, when the image's page allocator is this library's (its structures are in
    the image's DWARF); None otherwise."""
    state, run = ctx.layout("uk_ffalloc"), ctx.layout("ff_run")
    if state is None or run is None or ctx.image.symbol("uk_allocfirstfit_init") is None:
        return None
    return FirstFitWalker(ctx, state, run)
