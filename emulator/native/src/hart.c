/* One hart's INTR hook and turn: the sites the machine replaced with traps (lr/sc, watched
 * AMOs and fences, pct's sync accesses) are executed here, against the same rules as
 * machine/atomics.py and machine/hart.py; everything else that traps (exceptions, instrument
 * sites with Python handlers) goes to Python. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

int32_t nm_error = 0;

typedef struct {
    nm_map *map; /* address -> index in items */
    nm_site *items;
    int32_t count, capacity;
} nm_sites;

#define NO_STOP UINT64_MAX /* emu_start's stop address: odd, so no pc reaches it */
#define CAUSE_ILLEGAL_INSTRUCTION 2
#define CAUSE_ECALL 8 /* unicorn's for an ecall from any mode */

/* ---- the machine's tables ---------------------------------------------------------------- */

int32_t nm_machine_init(nm_machine *m) {
    nm_sites *sites = calloc(1, sizeof *sites);
    if (!sites || !(sites->map = map_new()))
        return -1;
    m->sites = sites;
    m->locks = map_new();
    return m->locks ? 0 : -1;
}

void nm_machine_free(nm_machine *m) {
    nm_sites *sites = m->sites;
    if (sites) {
        map_free(sites->map);
        free(sites->items);
        free(sites);
    }
    for (int32_t i = 0; i < m->nharts; i++) {
        map_free(m->harts[i].sync_seen);
        probes_free(&m->harts[i]);
    }
    map_free(m->locks);
    free(m->lock_table);
    free(m->site_stats);
    free(m->owners);
    coherence_free(m);
    memset(m, 0, sizeof *m);
}

int32_t nm_add_site(nm_machine *m, uint64_t address, uint32_t word, int32_t kind, int32_t index,
                    int32_t length) {
    nm_sites *sites = m->sites;
    if (sites->count == sites->capacity) {
        int32_t capacity = sites->capacity ? 2 * sites->capacity : 256;
        nm_site *items = realloc(sites->items, capacity * sizeof *items);
        if (!items)
            return -1;
        sites->items = items;
        sites->capacity = capacity;
    }
    nm_site *site = &sites->items[sites->count];
    *site = (nm_site){address, word, kind, index, length};
    if (!map_put(sites->map, address, (uint64_t)sites->count))
        return -1;
    return sites->count++;
}

static nm_site *find_site(nm_machine *m, uint64_t address) {
    nm_sites *sites = m->sites;
    uint64_t *index = map_find(sites->map, address);
    return index ? &sites->items[*index] : NULL;
}

/* The monitor's per-site counters, `count` slots (nm_add_site's index for watched sites). */
int32_t nm_monitor_init(nm_machine *m, int32_t count) {
    m->site_stats = calloc(count ? count : 1, sizeof *m->site_stats);
    m->nsite_stats = count;
    m->monitor = 1;
    return m->site_stats ? 0 : -1;
}

int32_t nm_timing_init(nm_machine *m) {
    m->owners = malloc((m->ram_size >> m->line_shift) + 1);
    if (!m->owners)
        return -1;
    memset(m->owners, -1, (m->ram_size >> m->line_shift) + 1);
    m->timing = 1;
    return 0;
}

/* ---- small helpers ----------------------------------------------------------------------- */

uint8_t *ram_at(nm_machine *m, uint64_t address, uint64_t width) {
    uint64_t offset = address - m->ram_base;
    if (address < m->ram_base || width > m->ram_size || offset > m->ram_size - width)
        return NULL;
    return m->ram + offset;
}

static uint64_t load_le(const uint8_t *p, int width) {
    uint64_t v = 0;
    memcpy(&v, p, width); /* the host is little-endian, like the guest */
    return v;
}

static void store_le(uint8_t *p, int width, uint64_t v) {
    memcpy(p, &v, width);
}

static uint64_t width_mask(int width) {
    return width == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * width)) - 1;
}

void hart_switch(nm_hart *h) {
    h->ended = END_SWITCH;
    h->m->emu_stop(h->uc);
}

void hart_park(nm_hart *h, uint64_t pc) {
    *h->pc = pc;
    h->ended = END_PARK;
    h->m->emu_stop(h->uc);
}

void hart_fault(nm_hart *h, uint64_t pc, const char *what) {
    h->m->py_fault(h->id, pc, what); /* Python records the fault and parks the hart */
}

/* The instruction word (16 or 32 bits) in RAM at address, 0 outside RAM. */
static uint32_t instruction_at(nm_machine *m, uint64_t address) {
    uint8_t *p = ram_at(m, address, 4);
    if (!p)
        return 0;
    uint32_t word = (uint32_t)load_le(p, 4);
    return (word & 3) == 3 ? word : word & 0xFFFF;
}

/* The physical address an instruction fetch at `address` goes to (hart.py Hart._physical). */
static uint64_t physical(nm_hart *h, uint64_t address) {
    if (*h->priv == 3 || !(*h->satp >> 60))
        return address;
    uint64_t out;
    if (h->m->vmem_translate(h->uc, address, UC_PROT_EXEC, &out) != 0)
        return address;
    return out;
}

/* ---- the timing model's charges (instruments/timing.py Timing.charge) -------------------- */

static void charge(nm_machine *m, nm_hart *h, int32_t kind, uint64_t address, int width,
                   int writes) {
    int64_t cost;
    if (m->coherence) {
        coherence_atomic(h, kind, address, width, writes);
        return;
    }
    if (kind == ATOMIC_FENCE) {
        cost = m->cost_fence;
    } else {
        cost = m->cost_atomic;
        uint64_t line = (address - m->ram_base) >> m->line_shift;
        int8_t owner = m->owners[line];
        if (owner >= 0 && owner != h->id) {
            cost += m->cost_transfer;
            m->transfers++;
        }
        if (writes)
            m->owners[line] = (int8_t)h->id;
    }
    h->clock += cost;
    m->charged += cost;
}

/* ---- preemption points (hart.py Hart._switch_before) ------------------------------------- */

static int step(nm_hart *h, uint64_t epc) {
    nm_machine *m = h->m;
    if (m->step_mode == STEP_PYTHON)
        return m->py_step(h->id, epc);
    return 0;
}

/* Switch the hart out in front of the step at epc if the schedule says so: it has not run (its
 * trap is not counted) and runs first when the hart resumes. */
static int switch_before(nm_hart *h, uint64_t epc) {
    if (h->resume_at == (int64_t)epc) {
        h->resume_at = -1;
        return 0;
    }
    if (h->reservation != -1 || !step(h, epc))
        return 0;
    h->resume_at = (int64_t)epc;
    (*h->counter)--;
    *h->pc = epc;
    hart_switch(h);
    return 1;
}

/* ---- the A extension (machine/atomics.py) ------------------------------------------------ */

static const char *amo_name(uint32_t funct5) {
    switch (funct5) {
    case 0x01:
        return "swap";
    case 0x00:
        return "add";
    case 0x04:
        return "xor";
    case 0x0C:
        return "and";
    case 0x08:
        return "or";
    case 0x10:
        return "min";
    case 0x14:
        return "max";
    case 0x18:
        return "minu";
    case 0x1C:
        return "maxu";
    default:
        return NULL;
    }
}

static uint64_t amo_result(uint32_t funct5, uint64_t old, uint64_t operand, int width) {
    int bits = 8 * width;
    uint64_t mask = width_mask(width), result;
    old &= mask;
    operand &= mask;
    int64_t so = (int64_t)sext(old, bits), sp = (int64_t)sext(operand, bits);
    switch (funct5) {
    case 0x01:
        result = operand;
        break;
    case 0x00:
        result = old + operand;
        break;
    case 0x04:
        result = old ^ operand;
        break;
    case 0x0C:
        result = old & operand;
        break;
    case 0x08:
        result = old | operand;
        break;
    case 0x10:
        result = so < sp ? old : operand;
        break;
    case 0x14:
        result = so > sp ? old : operand;
        break;
    case 0x18:
        result = old < operand ? old : operand;
        break;
    default:
        result = old > operand ? old : operand;
        break;
    }
    return result & mask;
}

static void report_atomic(nm_machine *m, nm_hart *h, nm_site *site, int32_t kind, int32_t funct5,
                          int width, int64_t address, uint64_t old, uint64_t value, int ok,
                          uint64_t epc) {
    int64_t when = hart_now(h);
    if (m->monitor)
        monitor_atomic(m, h, site->index, kind, kind == ATOMIC_AMO && funct5 == 0x01, address, old,
                       value, ok, when);
    if (m->atomic_events)
        m->py_atomic(h->id, when, epc, kind, funct5, width, address, old, value, ok);
}

/* An lr, sc or AMO the loader replaced with a trap; pc is already past it. */
static void atomic(nm_hart *h, nm_site *site, uint64_t epc) {
    nm_machine *m = h->m;
    uint32_t word = site->word;
    uint32_t funct5 = word >> 27;
    int width = ((word >> 12) & 7) == 3 ? 8 : 4;
    int rd = (word >> 7) & 31, rs1 = (word >> 15) & 31, rs2 = (word >> 20) & 31;
    int32_t kind = funct5 == 3 ? ATOMIC_SC : funct5 == 2 ? ATOMIC_LR : ATOMIC_AMO;
    if (kind == ATOMIC_AMO && !amo_name(funct5)) { /* no such AMO: as Python would */
        m->py_exception(h->id, CAUSE_ILLEGAL_INSTRUCTION);
        return;
    }
    uint64_t address = xreg(h, rs1);
    uint8_t *p = address % width ? NULL : ram_at(m, address, width);
    if (!p) {
        char what[128];
        snprintf(what, sizeof what, "%s%s at %s address 0x%llx",
                 kind == ATOMIC_SC   ? "sc"
                 : kind == ATOMIC_LR ? "lr"
                                     : "amo",
                 kind == ATOMIC_AMO ? amo_name(funct5) : "",
                 address % width ? "misaligned" : "outside RAM", (unsigned long long)address);
        hart_fault(h, epc, what);
        return;
    }
    uint64_t old = load_le(p, width), value = 0;
    int ok = 1, writes;
    if (kind == ATOMIC_SC) {
        ok = h->reservation == (int64_t)address;
        h->reservation = -1;
        value = xreg(h, rs2) & width_mask(width);
        if (ok) {
            store_le(p, width, value);
            h->sc_successes++;
        } else {
            h->sc_failures++;
        }
        set_xreg(h, rd, ok ? 0 : 1);
        writes = ok;
    } else if (kind == ATOMIC_LR) {
        set_xreg(h, rd, sext(old, 8 * width));
        h->reservation = (int64_t)address;
        h->loads_reserved++;
        writes = 0;
    } else {
        value = xreg(h, rs2) & width_mask(width);
        store_le(p, width, amo_result(funct5, old, value, width));
        set_xreg(h, rd, sext(old, 8 * width));
        writes = 1;
    }
    if (m->timing)
        charge(m, h, kind, address, width, writes);
    if (m->monitor || m->atomic_events)
        report_atomic(m, h, site, kind, funct5, width, (int64_t)address, old, value, ok, epc);
}

/* A fence (a no-op: the machine is sequentially consistent), reported with the store that
 * follows it, if any: `fence rw,w; sw` is how C11 writes a release store. */
static void fence(nm_hart *h, nm_site *site, uint64_t epc) {
    nm_machine *m = h->m;
    if (m->timing)
        charge(m, h, ATOMIC_FENCE, 0, 0, 0);
    if (!m->monitor && !m->atomic_events)
        return;
    uint32_t next = instruction_at(m, epc + 4);
    uint64_t address, value;
    int width;
    int64_t store = NO_ADDRESS;
    uint64_t stored = 0;
    if (store_operands(h, next, &address, &width, &value) && width >= 4 &&
        !(length_of(next) == 2 && (next & 3) != 0)) {
        store = (int64_t)address;
        stored = value;
    }
    report_atomic(m, h, site, ATOMIC_FENCE, 0, 0, store, 0, stored, 1, epc);
}

/* ---- pct's sync accesses (hart.py Hart._sync_access) ------------------------------------- */

static int sync_step(nm_hart *h, int is_load, uint64_t address, int width, uint64_t epc) {
    if (h->resume_at == (int64_t)epc)
        return 1; /* switched out in front of it: switch_before lets it run */
    if (!is_load)
        return 1;
    uint8_t *p = ram_at(h->m, address, width);
    uint64_t value = p ? load_le(p, width) : 0; /* outside RAM: faults after the step */
    if (!h->sync_seen)
        h->sync_seen = map_new();
    uint64_t *seen = map_find(h->sync_seen, epc);
    if (seen && *seen == value)
        return 0;
    uint64_t *slot = map_put(h->sync_seen, epc, value);
    if (slot)
        *slot = value;
    return 1;
}

static void sync_access(nm_hart *h, nm_site *site, uint64_t epc) {
    nm_machine *m = h->m;
    uint32_t word = site->word;
    uint64_t address, value = 0;
    int width, sign = 0, rd = 0;
    int is_load = load_operands(h, word, &address, &width, &sign, &rd);
    if (!is_load)
        store_operands(h, word, &address, &width, &value);
    if (m->step_mode != STEP_NONE && sync_step(h, is_load, address, width, epc) &&
        switch_before(h, epc))
        return;
    uint8_t *p = ram_at(m, address, width);
    if (!p) {
        char what[128];
        snprintf(what, sizeof what, "%s 0x%llx, outside RAM, at a sync site",
                 is_load ? "load from" : "store to", (unsigned long long)address);
        hart_fault(h, epc, what);
        return;
    }
    if (m->coherence)
        coherence_access(h, !is_load, address, width);
    if (is_load) {
        value = load_le(p, width);
        set_xreg(h, rd, sign ? sext(value, 8 * width) : value);
    } else {
        store_le(p, width, value);
    }
    *h->pc = epc + length_of(word);
}

/* ---- the hook ---------------------------------------------------------------------------- */

void nm_on_intr(uc_engine *uc, uint32_t intno, void *user_data) {
    nm_hart *h = user_data;
    nm_machine *m = h->m;
    (void)uc;
    if (intno == CAUSE_ILLEGAL_INSTRUCTION) {
        /* unicorn reports every exception with pc 4 past the instruction (unicorn #1990) */
        uint64_t epc = *h->pc - 4;
        nm_site *site = find_site(m, physical(h, epc));
        if (site) {
            switch (site->kind) {
            case SITE_LRSC:
            case SITE_AMO:
                if (m->step_mode != STEP_NONE && switch_before(h, epc))
                    return;
                atomic(h, site, epc);
                return;
            case SITE_FENCE:
                fence(h, site, epc);
                return;
            case SITE_SYNC:
                sync_access(h, site, epc);
                return;
            case SITE_PYTHON:
                m->py_trap(h->id, site->index, epc);
                return;
            case SITE_PROBE:
                probe_entry(h, site->index);
                return;
            case SITE_SLOT_EXIT:
                probe_slot_exit(h, site->index);
                return;
            case SITE_TRAMPOLINE:
                probe_trampoline(h);
                return;
            }
        }
    }
    if (intno == CAUSE_ECALL) { /* the tracer's caller of a system call (tracer.py) */
        h->ecall_pc = *h->pc - 4;
        h->has_ecall = 1;
    }
    m->py_exception(h->id, intno);
}

/* ---- a turn (hart.py Hart.run) ----------------------------------------------------------- */

/* Run `quantum` guest instructions (fewer at a wfi or a stop); returns how many retired, also
 * added to instret and clock. h->error is unicorn's error (0: none), h->at_wfi whether the turn
 * ended at a wfi. */
int64_t nm_hart_run(nm_hart *h, int64_t quantum) {
    nm_machine *m = h->m;
    int64_t retired;
    h->ended = END_NONE;
    h->at_wfi = 0;
    h->running = 1;
    h->error = m->emu_start(h->uc, h->next_pc, NO_STOP, 0, (size_t)quantum);
    h->running = 0;
    int64_t ran = (int64_t)*h->counter;
    if (h->error) {
        retired = ran;
    } else {
        h->next_pc = *h->pc;
        if (h->ended) {
            retired = ran;
        } else if (ran <= quantum) { /* unicorn stopped early: only a wfi does that */
            retired = ran;
            h->at_wfi = 1;
        } else {
            retired = quantum;
        }
    }
    h->instret += retired;
    h->clock += retired;
    return retired;
}

/* ---- what Python checks once the library is loaded ---------------------------------------- */

int64_t nm_sizeof(int32_t which) {
    static const int64_t sizes[] = {NM_SIZES};
    return which >= 0 && which < (int32_t)(sizeof sizes / sizeof *sizes) ? sizes[which] : -1;
}
