/* The coherence model in virtual time (instruments/timing.py has the contract, and
 * instruments/coherence.py the same model in Python): every load and store to RAM (a
 * UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE hook), every atomic and every sync access goes through a
 * MESI directory with one entry per line and a private L1 per hart, and pays in cycles on the
 * hart's clock at once, so rdcycle sees it and the timed schedule sees it at the turn's end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

/* Directory entries are allocated a chunk at a time on first touch: a run touches a few MiB
 * of a RAM that may be 2 GiB, and a flat array of every line would cost more than RAM. */
#define CHUNK_SHIFT 6
#define CHUNK (1 << CHUNK_SHIFT)

typedef struct {
    uint64_t sharers;   /* harts holding a copy, in any of M, E, S */
    int64_t busy_until; /* serialize_lines: when its last non-hit transaction ends */
    uint8_t owner;      /* 1 + the hart holding it E or M; 0: none (every copy is S) */
    uint8_t modified;   /* the owner holds it M */
} nm_line;

typedef struct {
    nm_line **chunks; /* per CHUNK lines of RAM, NULL until touched */
    uint64_t nlines;
    uint64_t *tags;   /* per hart, per set, per way: 1 + the line held there; 0: empty */
    uint64_t *stamps; /* when each way was last used (LRU) */
    uint64_t ticks[MAX_HARTS];
} nm_directory;

int32_t nm_coherence_init(nm_machine *m) {
    nm_directory *d = calloc(1, sizeof *d);
    if (!d)
        return -1;
    m->directory = d;
    d->nlines = (m->ram_size >> m->line_shift) + 1;
    d->chunks = calloc((d->nlines >> CHUNK_SHIFT) + 1, sizeof *d->chunks);
    if (!d->chunks)
        return -1;
    if (m->l1_sets) {
        size_t ways = (size_t)m->nharts * m->l1_sets * m->l1_ways;
        d->tags = calloc(ways, sizeof *d->tags);
        d->stamps = calloc(ways, sizeof *d->stamps);
        if (!d->tags || !d->stamps)
            return -1;
    }
    m->coherence = 1;
    return 0;
}

void coherence_free(nm_machine *m) {
    nm_directory *d = m->directory;
    if (!d)
        return;
    if (d->chunks)
        for (uint64_t i = 0; i <= d->nlines >> CHUNK_SHIFT; i++)
            free(d->chunks[i]);
    free(d->chunks);
    free(d->tags);
    free(d->stamps);
    free(d);
    m->directory = NULL;
}

static nm_line *line_at(nm_directory *d, uint64_t line) {
    nm_line **chunk = &d->chunks[line >> CHUNK_SHIFT];
    if (!*chunk && !(*chunk = calloc(CHUNK, sizeof **chunk))) {
        fputs("emulator: out of memory for the coherence directory\n", stderr);
        abort();
    }
    return &(*chunk)[line & (CHUNK - 1)];
}

/* ---- the private L1s: l1_sets sets of l1_ways ways per hart, LRU within a set -------------- */

static uint64_t *set_of(nm_machine *m, nm_directory *d, int hart, uint64_t line) {
    size_t set = line & (uint64_t)(m->l1_sets - 1);
    return &d->tags[((size_t)hart * m->l1_sets + set) * m->l1_ways];
}

static void l1_use(nm_machine *m, nm_directory *d, int hart, uint64_t line) {
    uint64_t *tags = set_of(m, d, hart, line);
    for (int w = 0; w < m->l1_ways; w++)
        if (tags[w] == line + 1) {
            d->stamps[&tags[w] - d->tags] = ++d->ticks[hart];
            return;
        }
}

static void l1_drop(nm_machine *m, nm_directory *d, int hart, uint64_t line) {
    uint64_t *tags = set_of(m, d, hart, line);
    for (int w = 0; w < m->l1_ways; w++)
        if (tags[w] == line + 1) {
            tags[w] = 0;
            return;
        }
}

/* The line comes into h's L1: into the first empty way of its set, else in place of the least
 * recently used line, which leaves h's cache at no cost (its write-back is absorbed by L2). */
static void l1_fill(nm_machine *m, nm_directory *d, nm_hart *h, uint64_t line) {
    uint64_t *tags = set_of(m, d, h->id, line);
    int victim = -1;
    for (int w = 0; w < m->l1_ways; w++) {
        if (!tags[w]) {
            victim = w;
            break;
        }
        if (victim < 0 || d->stamps[&tags[w] - d->tags] < d->stamps[&tags[victim] - d->tags])
            victim = w;
    }
    if (tags[victim]) {
        nm_line *old = line_at(d, tags[victim] - 1);
        old->sharers &= ~((uint64_t)1 << h->id);
        if (old->owner == h->id + 1)
            old->owner = old->modified = 0;
        h->cache_evictions++;
    }
    tags[victim] = line + 1;
    d->stamps[&tags[victim] - d->tags] = ++d->ticks[h->id];
}

/* ---- the protocol ------------------------------------------------------------------------- */

static int64_t clock_now(const nm_hart *h) {
    return h->clock + hart_now(h) - h->instret;
}

static void charge(nm_machine *m, nm_hart *h, int64_t cost) {
    h->clock += cost;
    h->cache_charged_cycles += cost;
    m->charged += cost;
}

/* Every copy but h's leaves its cache. */
static void invalidate_others(nm_machine *m, nm_directory *d, nm_hart *h, nm_line *e,
                              uint64_t line) {
    uint64_t others = e->sharers & ~((uint64_t)1 << h->id);
    while (others) {
        int k = __builtin_ctzll(others);
        others &= others - 1;
        if (m->l1_sets)
            l1_drop(m, d, k, line);
        h->cache_invalidations++;
    }
}

/* Cache attribution: the structure an address belongs to (hooks.CacheMap's ranges; inside the
 * segmented structure, a segment's header is a structure of its own). A hart's accesses mostly
 * stay in one range for a while: the last one is tried first. */
static int32_t structure_of(const nm_machine *m, nm_hart *h, uint64_t address) {
    int32_t found = 0, last = h->last_range;
    if (last >= 0 && last < m->nranges && address >= m->range_starts[last] &&
        address < m->range_ends[last]) {
        found = m->range_structs[last];
    } else {
        int32_t lo = 0, hi = m->nranges - 1;
        while (lo <= hi) {
            int32_t mid = (lo + hi) / 2;
            if (address < m->range_starts[mid]) {
                hi = mid - 1;
            } else if (address >= m->range_ends[mid]) {
                lo = mid + 1;
            } else {
                found = m->range_structs[mid];
                h->last_range = mid;
                break;
            }
        }
    }
    if (found == m->segmented_struct && (address & m->segment_mask) < m->segment_header)
        found = m->segment_header_struct;
    return found;
}

static void attribute(nm_machine *m, nm_hart *h, uint64_t address, int64_t miss, int64_t transfer,
                      int64_t upgrade, int64_t wait) {
    int64_t *c =
        &m->attr_counts[((int64_t)h->op * m->nstructs + structure_of(m, h, address)) * ATTR_FIELDS];
    c[ATTR_ACCESSES]++;
    c[ATTR_MISSES] += miss;
    c[ATTR_TRANSFERS] += transfer;
    c[ATTR_UPGRADES] += upgrade;
    c[ATTR_WAIT] += wait;
}

/* h loads (write = 0) or stores one line (at `address`): the MESI rules of timing.py, charged
 * at once. */
static void touch(nm_machine *m, nm_hart *h, uint64_t line, uint64_t address, int write) {
    nm_directory *d = m->directory;
    nm_line *e = line_at(d, line);
    uint64_t bit = (uint64_t)1 << h->id;
    int64_t cost, miss = 0, transfer = 0, upgrade = 0;
    if (e->sharers & bit) {
        if (!write || e->owner == h->id + 1) { /* a hit; a store to E makes it M */
            e->modified |= (uint8_t)write;
            h->cache_hits++;
            if (m->l1_sets)
                l1_use(m, d, h->id, line);
            if (m->attribution)
                attribute(m, h, address, 0, 0, 0, 0);
            return;
        }
        cost = m->cost_upgrade; /* a store to S */
        upgrade = 1;
        invalidate_others(m, d, h, e, line);
    } else {
        if (e->modified) { /* another hart holds it M */
            cost = m->cost_transfer;
            transfer = 1;
            if (write)
                invalidate_others(m, d, h, e, line);
            else
                e->owner = e->modified = 0; /* M -> S */
        } else {
            cost = m->cost_miss;
            miss = 1;
            if (write && e->sharers) {
                cost += m->cost_upgrade;
                upgrade = 1;
                invalidate_others(m, d, h, e, line);
            } else if (!write) {
                e->owner = 0; /* E -> S */
            }
        }
        if (m->l1_sets)
            l1_fill(m, d, h, line);
    }
    h->cache_misses += miss;
    h->cache_transfers += transfer;
    h->cache_upgrades += upgrade;
    if (write) {
        e->sharers = bit;
        e->owner = (uint8_t)(h->id + 1);
        e->modified = 1;
    } else {
        e->sharers |= bit;
        if (e->sharers == bit) { /* nobody else holds it: E */
            e->owner = (uint8_t)(h->id + 1);
            e->modified = 0;
        }
    }
    int64_t wait = 0;
    if (m->serialize_lines) {
        int64_t now = clock_now(h);
        wait = e->busy_until > now ? e->busy_until - now : 0;
        e->busy_until = now + wait + cost;
        h->cache_line_wait_cycles += wait;
        cost += wait;
    }
    if (m->attribution)
        attribute(m, h, address, miss, transfer, upgrade, wait);
    charge(m, h, cost);
}

static void touch_range(nm_machine *m, nm_hart *h, uint64_t address, int size, int write) {
    nm_directory *d = m->directory;
    uint64_t first = (address - m->ram_base) >> m->line_shift;
    uint64_t last = (address + (uint64_t)(size > 0 ? size - 1 : 0) - m->ram_base) >> m->line_shift;
    for (uint64_t line = first; line <= last && line < d->nlines; line++)
        touch(m, h, line, line == first ? address : m->ram_base + (line << m->line_shift), write);
}

/* A plain load or store (the memory hook, a sync site). */
void coherence_access(nm_hart *h, int write, uint64_t address, int size) {
    if (write)
        h->cache_stores++;
    else
        h->cache_loads++;
    touch_range(h->m, h, address, size, write);
}

/* An atomic (kind ATOMIC_*; `ok`: an SC succeeded) or a fence (hart.c charge). */
void coherence_atomic(nm_hart *h, int32_t kind, uint64_t address, int width, int ok) {
    nm_machine *m = h->m;
    if (kind == ATOMIC_FENCE) {
        h->cache_fences++;
        charge(m, h, m->cost_fence);
        return;
    }
    h->cache_atomics++;
    touch_range(m, h, address, width, kind != ATOMIC_SC || ok); /* an LR takes it exclusive */
    charge(m, h, m->cost_atomic);
}

void nm_on_access(uc_engine *uc, int type, uint64_t address, int size, int64_t value,
                  void *user_data) {
    (void)uc;
    (void)value;
    coherence_access(user_data, type == UC_MEM_WRITE, address, size);
}
