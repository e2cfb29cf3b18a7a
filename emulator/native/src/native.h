/* What the native layer's C files share: the generated layout.h (structures and constants,
 * defined in emulator/native/layout.py), small helpers and the internal interfaces. */
#pragma once
#include <stdint.h>

#include "layout.h"

#define NO_ADDRESS (-1)
#define NM_RAM_FAULT ((uint64_t)-1)

/* A site the machine acts on: an address whose instruction is a trap word here. */
typedef struct {
    uint64_t address;
    uint32_t word;  /* the original instruction (replaced sites) */
    int32_t kind;   /* SITE_* */
    int32_t index;  /* SITE_PYTHON: Python's handler; else the monitor's stats slot or -1 */
    int32_t length; /* bytes of the trap word */
} nm_site;

/* ---- map.c: uint64 -> uint64, open addressing ---- */
typedef struct {
    uint64_t *keys;
    uint64_t *values;
    uint64_t mask;  /* capacity - 1 */
    uint64_t count; /* keys in use */
} nm_map;

nm_map *map_new(void);
void map_free(nm_map *map);
uint64_t *map_find(const nm_map *map, uint64_t key);
uint64_t *map_put(nm_map *map, uint64_t key, uint64_t value); /* keeps an existing value */

/* ---- the process-wide error flag: a Python callback failed (Python holds the exception) ---- */
extern int32_t nm_error;

/* ---- registers and counters ---- */
static inline uint64_t xreg(const nm_hart *h, int i) {
    return i ? h->gpr[i] : 0;
}
static inline void set_xreg(nm_hart *h, int i, uint64_t v) {
    if (i)
        h->gpr[i] = v;
}
/* Instructions the hart retired before the current one (exact inside a hook). */
static inline int64_t hart_now(const nm_hart *h) {
    return h->running ? h->instret + (int64_t)*h->counter - 1 : h->instret;
}
int64_t nm_hart_run(nm_hart *h, int64_t quantum);
void hart_switch(nm_hart *h);            /* end the turn after this instruction */
void hart_park(nm_hart *h, uint64_t pc); /* end the turn now, at pc */
void hart_fault(nm_hart *h, uint64_t pc, const char *what);
uint8_t *ram_at(nm_machine *m, uint64_t address, uint64_t width); /* NULL outside RAM */

/* ---- probes.c, displaced.c ---- */
void probe_entry(nm_hart *h, int32_t index);
void probe_slot_exit(nm_hart *h, int32_t index);
void probe_trampoline(nm_hart *h);
void probes_free(nm_hart *h);
uint64_t execute_displaced(nm_hart *h, uint32_t word, uint64_t pc);

/* ---- coherence.c ---- */
void coherence_access(nm_hart *h, int write, uint64_t address, int size);
void coherence_atomic(nm_hart *h, int32_t kind, uint64_t address, int width, int ok);
void coherence_free(nm_machine *m);

/* ---- monitor.c ---- */
void monitor_atomic(nm_machine *m, nm_hart *h, int32_t slot, int32_t kind, int32_t swap,
                    int64_t address, uint64_t old, uint64_t value, int32_t ok, int64_t when);

/* ---- decoding (decode.c) ---- */
int load_operands(const nm_hart *h, uint32_t word, uint64_t *address, int *width, int *sign,
                  int *rd);
int store_operands(const nm_hart *h, uint32_t word, uint64_t *address, int *width, uint64_t *value);
static inline int length_of(uint32_t word) {
    return (word & 3) == 3 ? 4 : 2;
}
static inline uint64_t sext(uint64_t value, int bits) {
    if (bits >= 64)
        return value;
    uint64_t m = (uint64_t)1 << (bits - 1);
    value &= ((uint64_t)1 << bits) - 1;
    return (value ^ m) - m;
}
