/* The trace writer's per-call work in C (instruments/tracer.py TraceWriter defines the format;
 * this writes the same bytes): each finished traced call becomes a line of allocs.jsonl and a
 * slice of the Chrome/Perfetto trace, with the flow and live-bytes counters that go with it
 * (under the coherence model also the call's counts and its hart's coherence counter), and
 * counts in the per-hart statistics. Python keeps the files (their header, their end, when
 * they close) and the caller symbols, which it is asked for once per caller pc; the text goes
 * out through py_write when a buffer fills and at the end of the run (nm_log_flush). */
#include <stdlib.h>
#include <string.h>

#include "native.h"

typedef unsigned __int128 u128; /* sizes and byte counts: Python's ints do not wrap at 64 bits */

/* ---- text --------------------------------------------------------------------------------- */

typedef struct {
    char **data;
    int64_t *length, *capacity;
    int32_t *error; /* nm_call_log.error: Python says so rather than write what is left */
} text;

static int reserve(text t, int64_t more) {
    if (*t.length + more <= *t.capacity)
        return 0;
    int64_t capacity = *t.capacity ? 2 * *t.capacity : 1 << 16;
    while (capacity < *t.length + more)
        capacity *= 2;
    char *data = realloc(*t.data, (size_t)capacity);
    if (!data) {
        *t.error = 1;
        return -1;
    }
    *t.data = data;
    *t.capacity = capacity;
    return 0;
}

static void put(text t, const char *s, int64_t n) {
    if (reserve(t, n) == 0) {
        memcpy(*t.data + *t.length, s, (size_t)n);
        *t.length += n;
    }
}

static void puts_(text t, const char *s) {
    put(t, s, (int64_t)strlen(s));
}

static void put_u128(text t, u128 v) {
    char digits[48];
    int n = 0;
    do {
        digits[sizeof digits - 1 - n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    put(t, digits + sizeof digits - n, n);
}

static void put_i64(text t, int64_t v) {
    if (v < 0) {
        put(t, "-", 1);
        put_u128(t, (u128)0 - (u128)(__int128)v);
    } else {
        put_u128(t, (u128)v);
    }
}

/* f"{v:#x}" */
static void put_hex(text t, uint64_t v) {
    char digits[16];
    int n = 0;
    do {
        digits[sizeof digits - 1 - n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    put(t, "0x", 2);
    put(t, digits + sizeof digits - n, n);
}

/* repr(v / 1000) for 0 <= v < 10**15: the exact decimal is the shortest that reads back (at
 * most 15 significant digits), so Python writes it with its trailing zeros dropped, one kept. */
static void put_thousandths(text t, int64_t v) {
    put_i64(t, v / 1000);
    int64_t r = v % 1000;
    char frac[4] = {'.', (char)('0' + r / 100), (char)('0' + r / 10 % 10), (char)('0' + r % 10)};
    int n = 4;
    while (n > 2 && frac[n - 1] == '0')
        n--;
    put(t, frac, n);
}

/* ---- the (layer, block) -> owner table: open addressing, backward-shift deletion ----------- */

typedef struct {
    uint64_t block;
    int32_t layer, used;
    int32_t hart, pad;
    int64_t seq, clock; /* of the call that handed it out */
    u128 size;
} owner;

typedef struct {
    owner *slots;
    uint64_t mask, count;
} owners;

static uint64_t home(const owners *t, int32_t layer, uint64_t block) {
    return ((block ^ (uint64_t)layer << 61) * 0x9E3779B97F4A7C15ull >> 17) & t->mask;
}

static owner *owners_find(const owners *t, int32_t layer, uint64_t block) {
    for (uint64_t i = home(t, layer, block);; i = (i + 1) & t->mask) {
        owner *o = &t->slots[i];
        if (!o->used)
            return NULL;
        if (o->block == block && o->layer == layer)
            return o;
    }
}

static int owners_grow(owners *t) {
    owners old = *t;
    uint64_t capacity = old.slots ? 2 * (old.mask + 1) : 256;
    t->slots = calloc(capacity, sizeof *t->slots);
    if (!t->slots) {
        *t = old;
        return -1;
    }
    t->mask = capacity - 1;
    for (uint64_t i = 0; old.slots && i <= old.mask; i++) {
        owner *o = &old.slots[i];
        if (o->used) {
            uint64_t j = home(t, o->layer, o->block);
            while (t->slots[j].used)
                j = (j + 1) & t->mask;
            t->slots[j] = *o;
        }
    }
    free(old.slots);
    return 0;
}

/* owner[(layer, block)] = value: replaces what was there, as the Python dict does */
static int owners_put(owners *t, const owner *value) {
    owner *found = owners_find(t, value->layer, value->block);
    if (found) {
        *found = *value;
        found->used = 1;
        return 0;
    }
    if ((t->count + 1) * 4 > (t->mask + 1) * 3 && owners_grow(t) != 0)
        return -1;
    uint64_t i = home(t, value->layer, value->block);
    while (t->slots[i].used)
        i = (i + 1) & t->mask;
    t->slots[i] = *value;
    t->slots[i].used = 1;
    t->count++;
    return 0;
}

static void owners_remove(owners *t, owner *o) {
    uint64_t i = (uint64_t)(o - t->slots), j = i;
    for (;;) {
        t->slots[i].used = 0;
        for (;;) {
            j = (j + 1) & t->mask;
            owner *next = &t->slots[j];
            if (!next->used) {
                t->count--;
                return;
            }
            uint64_t k = home(t, next->layer, next->block);
            /* next may fill the hole at i unless its home lies cyclically in (i, j] */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                continue;
            break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

/* ---- the rest of the writer's state ------------------------------------------------------- */

typedef struct {
    int64_t *values;
    int64_t count, capacity;
} latencies;

typedef struct {
    char *text;
    int64_t length;
} symbol;

typedef struct {
    nm_map *index; /* pc -> index in items */
    symbol *items;
    int64_t count, capacity;
} symbols;

static text jsonl(nm_call_log *log) {
    return (text){&log->jsonl, &log->jsonl_length, &log->jsonl_capacity, &log->error};
}

static text chrome(nm_call_log *log) {
    return (text){&log->chrome, &log->chrome_length, &log->chrome_capacity, &log->error};
}

int32_t nm_log_init(nm_machine *m, nm_call_log *log) {
    log->latencies = calloc((size_t)m->nharts, sizeof(latencies));
    log->owners = calloc(1, sizeof(owners));
    symbols *s = calloc(1, sizeof *s);
    log->symbols = s;
    if (!log->latencies || !log->owners || !s || !(s->index = map_new()) ||
        owners_grow(log->owners) != 0)
        return -1;
    m->log = log;
    return 0;
}

void nm_log_free(nm_machine *m) {
    nm_call_log *log = m->log;
    if (!log)
        return;
    latencies *l = log->latencies;
    for (int32_t h = 0; l && h < m->nharts; h++)
        free(l[h].values);
    free(l);
    owners *o = log->owners;
    if (o)
        free(o->slots);
    free(o);
    symbols *s = log->symbols;
    if (s) {
        for (int64_t i = 0; i < s->count; i++)
            free(s->items[i].text);
        free(s->items);
        map_free(s->index);
    }
    free(s);
    free(log->jsonl);
    free(log->chrome);
    memset(log, 0, sizeof *log);
    m->log = NULL;
}

/* Python's answer to py_symbol: the symbol of `pc` as JSON (a quoted name, or null). */
int32_t nm_log_symbol(nm_call_log *log, uint64_t pc, const char *json, int64_t length) {
    symbols *s = log->symbols;
    if (s->count == s->capacity) {
        int64_t capacity = s->capacity ? 2 * s->capacity : 64;
        symbol *items = realloc(s->items, (size_t)capacity * sizeof *items);
        if (!items)
            return -1;
        s->items = items;
        s->capacity = capacity;
    }
    char *copy = malloc((size_t)length);
    if (!copy)
        return -1;
    memcpy(copy, json, (size_t)length);
    s->items[s->count] = (symbol){copy, length};
    if (pc != UINT64_MAX && !map_put(s->index, pc, (uint64_t)s->count))
        return -1;
    s->count++;
    return 0;
}

static const symbol *symbol_of(nm_call_log *log, uint64_t pc) {
    static const symbol unknown = {"null", 4};
    symbols *s = log->symbols;
    uint64_t *found = pc != UINT64_MAX ? map_find(s->index, pc) : NULL;
    if (!found) {
        int64_t before = s->count;
        log->py_symbol(pc);
        if (nm_error || s->count == before)
            return &unknown; /* the run stops: Python raises what went wrong */
        return &s->items[s->count - 1];
    }
    return &s->items[*found];
}

const int64_t *nm_log_latencies(nm_call_log *log, int32_t hart, int64_t *count) {
    latencies *l = &((latencies *)log->latencies)[hart];
    *count = l->count;
    return l->values;
}

void nm_log_flush(nm_call_log *log) {
    if (log->jsonl_length) {
        log->py_write(LOG_JSONL, log->jsonl, log->jsonl_length);
        log->jsonl_length = 0;
    }
    if (log->chrome_length) {
        log->py_write(LOG_CHROME, log->chrome, log->chrome_length);
        log->chrome_length = 0;
    }
}

/* ---- one call (TraceWriter.on_return) ----------------------------------------------------- */

#define MASK64 UINT64_MAX

static u128 get128(const uint64_t *low, const uint64_t *high, int h) {
    return (u128)high[h] << 64 | low[h];
}

static void set128(uint64_t *low, uint64_t *high, int h, u128 v) {
    low[h] = (uint64_t)v;
    high[h] = (uint64_t)(v >> 64);
}

/* Call.released */
static uint64_t released(const nm_api *a, const nm_call *c) {
    switch (a->released) {
    case LOG_RELEASED_ALWAYS:
        return c->args[0];
    case LOG_RELEASED_IF_ZERO:
        return c->result == 0 ? c->args[0] : 0;
    case LOG_RELEASED_REALLOC:
        return c->result || c->args[a->size_arg] == 0 ? c->args[0] : 0;
    default:
        return 0;
    }
}

/* Call.block */
static uint64_t block_of(const nm_api *a, const nm_call *c) {
    switch (a->block) {
    case LOG_BLOCK_RESULT:
        return c->result;
    case LOG_BLOCK_MMAP:
        return c->result > MASK64 - 4096 ? 0 : c->result;
    case LOG_BLOCK_OUT:
        return c->result == 0 ? c->out : 0;
    default:
        return 0;
    }
}

/* block_bytes */
static u128 size_of(const nm_api *a, const nm_call *c) {
    switch (a->size) {
    case LOG_SIZE_ARG:
        return c->args[a->size_arg];
    case LOG_SIZE_PRODUCT:
        return (u128)c->args[0] * c->args[1];
    case LOG_SIZE_PAGES:
        return (u128)c->args[a->size_arg] << 12;
    default:
        return 0;
    }
}

/* Call.json_args */
static void put_args(text t, const nm_api *a, const nm_call *c) {
    const char *key = a->arg_keys;
    for (int i = 0; i < a->nargs; i++) {
        if (i)
            put(t, ",", 1);
        size_t n = strlen(key);
        put(t, key, (int64_t)n);
        key += n + 1;
        if (a->pointers >> i & 1) {
            put(t, "\"", 1);
            put_hex(t, c->args[i]);
            put(t, "\"", 1);
        } else {
            put_i64(t, (int64_t)c->args[i]);
        }
    }
}

/* Call.json_result */
static void put_result(text t, const nm_api *a, uint64_t result) {
    int kind = a->result;
    if (kind == LOG_RESULT_MMAP)
        kind = result > MASK64 - 4096 ? LOG_RESULT_SIGNED : LOG_RESULT_POINTER;
    switch (kind) {
    case LOG_RESULT_SIGNED:
        put_i64(t, (int64_t)result);
        break;
    case LOG_RESULT_POINTER:
        put(t, "\"", 1);
        put_hex(t, result);
        put(t, "\"", 1);
        break;
    default:
        put(t, "null", 4);
    }
}

/* TraceWriter's CACHE_COUNTS, each with its colon */
static const char *const cache_keys[4] = {
    ",\"misses\":", ",\"transfers\":", ",\"upgrades\":", ",\"line_wait\":"};

static void put_counter(nm_call_log *log, int64_t end, int h) {
    text t = chrome(log);
    puts_(t, ",\n{\"ph\":\"C\",\"pid\":1,\"ts\":");
    put_thousandths(t, end);
    puts_(t, ",\"name\":\"live bytes hart ");
    put_i64(t, h);
    puts_(t, "\",\"args\":{\"bytes\":");
    put_u128(t, get128(log->live_low, log->live_high, h));
    puts_(t, "}}");
}

/* The order Python iterates the set {a, b} of two hart numbers below 64 in: by their slots in
 * an 8-slot table, b probing on from a's slot if they collide (CPython's set_add_entry). */
static void set_order(int a, int b, int out[2], int *n) {
    if (a == b) {
        out[0] = a;
        *n = 1;
        return;
    }
    int slot_a = a & 7, slot_b = b & 7;
    if (slot_b == slot_a)
        slot_b = (slot_a * 5 + 1 + (b >> 5)) & 7;
    out[0] = slot_a < slot_b ? a : b;
    out[1] = slot_a < slot_b ? b : a;
    *n = 2;
}

void log_call(nm_machine *m, const nm_call *c) {
    nm_call_log *log = m->log;
    const nm_api *a = &m->apis[c->api];
    int h = c->hart;
    int64_t insns = c->exit - c->entry;
    log->calls[h]++;
    latencies *l = &((latencies *)log->latencies)[h];
    if (l->count == l->capacity) {
        int64_t capacity = l->capacity ? 2 * l->capacity : 256;
        int64_t *values = realloc(l->values, (size_t)capacity * sizeof *values);
        if (values) {
            l->values = values;
            l->capacity = capacity;
        }
    }
    if (l->count < l->capacity)
        l->values[l->count++] = insns;
    else
        log->error = 1;
    owner freed = {0};
    uint64_t block = 0;
    if (c->depth == 0) {
        uint64_t ptr = released(a, c);
        owner *found = ptr ? owners_find(log->owners, a->layer, ptr) : NULL;
        if (found) {
            freed = *found;
            owners_remove(log->owners, found);
            u128 live = get128(log->live_low, log->live_high, freed.hart);
            set128(log->live_low, log->live_high, freed.hart, live - freed.size);
            if (freed.hart != h)
                log->remote_frees[h]++;
        }
        block = block_of(a, c);
        if (a->block != LOG_BLOCK_NONE) {
            if (block) {
                owner made = {.block = block,
                              .layer = a->layer,
                              .hart = h,
                              .seq = c->seq,
                              .clock = c->clock,
                              .size = size_of(a, c)};
                set128(log->bytes_low, log->bytes_high, h,
                       get128(log->bytes_low, log->bytes_high, h) + made.size);
                if (owners_put(log->owners, &made) != 0)
                    log->error = 1;
                set128(log->live_low, log->live_high, h,
                       get128(log->live_low, log->live_high, h) + made.size);
            } else {
                log->failed[h]++;
            }
        }
    }
    if (!log->write_jsonl && !log->write_chrome)
        return;
    const symbol *sym = symbol_of(log, c->caller);
    if (log->write_jsonl) { /* Call.json_line */
        text t = jsonl(log);
        puts_(t, "{\"seq\":");
        put_i64(t, c->seq);
        puts_(t, ",\"hart\":");
        put_i64(t, h);
        puts_(t, a->jsonl_head);
        put_args(t, a, c);
        puts_(t, "},\"result\":");
        put_result(t, a, c->result);
        puts_(t, ",\"entry\":");
        put_i64(t, c->entry);
        puts_(t, ",\"exit\":");
        put_i64(t, c->exit);
        puts_(t, ",\"insns\":");
        put_i64(t, insns);
        puts_(t, ",\"caller\":\"");
        put_hex(t, c->caller);
        puts_(t, "\",\"caller_symbol\":");
        put(t, sym->text, sym->length);
        puts_(t, ",\"depth\":");
        put_i64(t, c->depth);
        if (a->block == LOG_BLOCK_OUT) {
            puts_(t, ",\"ptr\":\"");
            put_hex(t, c->out);
            puts_(t, "\"");
        }
        if (c->injected)
            puts_(t, ",\"injected\":true");
        puts_(t, "}\n");
    }
    if (log->write_chrome) { /* the slice, then TraceWriter._chrome_call */
        text t = chrome(log);
        puts_(t, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":");
        put_i64(t, h);
        puts_(t, ",\"ts\":");
        put_thousandths(t, c->clock);
        puts_(t, ",\"dur\":");
        put_thousandths(t, insns);
        puts_(t, a->chrome_head);
        put_args(t, a, c);
        if (a->nargs)
            put(t, ",", 1);
        puts_(t, "\"result\":");
        put_result(t, a, c->result);
        puts_(t, ",\"seq\":");
        put_i64(t, c->seq);
        puts_(t, ",\"caller\":");
        if (sym->length == 4 && memcmp(sym->text, "null", 4) == 0) {
            puts_(t, "\"");
            put_hex(t, c->caller);
            puts_(t, "\"");
        } else {
            put(t, sym->text, sym->length);
        }
        for (int i = 0; log->cache && i < 4; i++) { /* the call's own, nested calls included */
            puts_(t, cache_keys[i]);
            put_i64(t, c->cache_out[i] - c->cache_in[i]);
        }
        puts_(t, "}}");
        if (freed.used && freed.hart != h) { /* a flow from the allocation to this free */
            puts_(t, ",\n{\"ph\":\"s\",\"pid\":1,\"tid\":");
            put_i64(t, freed.hart);
            puts_(t, ",\"id\":");
            put_i64(t, freed.seq);
            puts_(t, ",\"name\":\"remote free\",\"cat\":\"flow\",\"ts\":");
            put_thousandths(t, freed.clock);
            puts_(t, "}");
            puts_(t, ",\n{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":");
            put_i64(t, h);
            puts_(t, ",\"id\":");
            put_i64(t, freed.seq);
            puts_(t, ",\"name\":\"remote free\",\"cat\":\"flow\",\"ts\":");
            put_thousandths(t, c->clock);
            puts_(t, "}");
        }
        if (freed.used || (c->depth == 0 && block)) {
            int order[2], n;
            set_order(freed.used ? freed.hart : h, h, order, &n);
            for (int i = 0; i < n; i++)
                put_counter(log, c->clock + insns, order[i]);
        }
        if (log->cache) { /* the hart's totals so far: a counter track per hart */
            puts_(t, ",\n{\"ph\":\"C\",\"pid\":1,\"ts\":");
            put_thousandths(t, c->clock + insns);
            puts_(t, ",\"name\":\"coherence hart ");
            put_i64(t, h);
            puts_(t, "\",\"args\":{");
            for (int i = 0; i < 4; i++) {
                puts_(t, cache_keys[i] + (i == 0)); /* the first without its comma */
                put_i64(t, c->cache_out[i]);
            }
            puts_(t, "}}");
        }
    }
    if (log->jsonl_length >= log->flush_at || log->chrome_length >= log->flush_at)
        nm_log_flush(log);
}
