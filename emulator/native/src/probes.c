/* Function probes in C (instruments/probes.py has the mechanism and its reasons): the entry
 * trap runs the probe's actions, newest first, until one returns data; a call whose data is
 * kept has its return address swapped for the trampoline and a frame on the hart's shadow
 * stack; then the displaced instruction runs. Actions:
 *
 *   ACT_TRACE         the allocation tracer (tracer.py Tracer): the call's arguments, caller,
 *                     depth and times become a record; --fail's injected failures happen here
 *   ACT_LOCK_ACQUIRE  a declared lock's acquire function (contention.py), timed to its return
 *   ACT_LOCK_RELEASE  its release function
 *   ACT_PYTHON        anything else: a callback into Python
 *
 * Records wait in nm_machine.records until Python takes them (py_drain): at the end of the
 * turn, when the buffer is full, or at once for the calls a listener must see as they happen
 * (nm_api.now_entry/now_return: the oracle's checks, which may stop the run there). */
#include <stdlib.h>
#include <string.h>

#include "native.h"

typedef struct {
    int32_t kind;  /* ACT_* of the action whose data this is */
    int32_t probe; /* index in nm_machine.probes */
    int32_t api;   /* ACT_TRACE */
    int32_t layer; /* ACT_TRACE */
    uint64_t return_address;
    uint64_t caller;
    int64_t data;    /* ACT_TRACE: the call's seq; ACT_LOCK_ACQUIRE: the lock; ACT_PYTHON: handle */
    int64_t entered; /* ACT_LOCK_ACQUIRE: when ACQUIRE was entered */
    uint64_t arg0;   /* ACT_TRACE: a0 at entry (where posix_memalign stores its pointer) */
} nm_frame;

typedef struct {
    nm_frame *frames;
    int32_t depth, capacity;
} nm_shadow;

#define A0 10
#define RA 1

static nm_shadow *shadow_of(nm_hart *h) {
    if (!h->shadow)
        h->shadow = calloc(1, sizeof(nm_shadow));
    return h->shadow;
}

static int push(nm_hart *h, const nm_frame *frame) {
    nm_shadow *s = shadow_of(h);
    if (!s)
        return -1;
    if (s->depth == s->capacity) {
        int32_t capacity = s->capacity ? 2 * s->capacity : 16;
        nm_frame *frames = realloc(s->frames, capacity * sizeof *frames);
        if (!frames)
            return -1;
        s->frames = frames;
        s->capacity = capacity;
    }
    s->frames[s->depth++] = *frame;
    return 0;
}

void probes_free(nm_hart *h) {
    nm_shadow *s = h->shadow;
    if (s) {
        free(s->frames);
        free(s);
        h->shadow = NULL;
    }
}

/* Cache attribution: the hart's innermost allocator operation (a traced call's, or a call an
 * ACT_REGION probe names), after each push and pop. */
static void update_op(nm_hart *h) {
    nm_machine *m = h->m;
    nm_shadow *s = h->shadow;
    h->op = 0;
    if (!m->attribution || !s)
        return;
    for (int32_t i = s->depth - 1; i >= 0; i--) {
        const nm_frame *f = &s->frames[i];
        if (f->kind == ACT_REGION) {
            h->op = (int32_t)f->data;
            return;
        }
        if (f->kind == ACT_TRACE && m->api_ops) {
            h->op = m->api_ops[f->api];
            return;
        }
    }
}

static void count_call(nm_hart *h, const nm_frame *frame) {
    nm_machine *m = h->m;
    if (!m->attribution)
        return;
    if (frame->kind == ACT_REGION)
        m->attr_calls[frame->data]++;
    else if (frame->kind == ACT_TRACE && m->api_ops)
        m->attr_calls[m->api_ops[frame->api]]++;
}

int32_t nm_frames_in_progress(nm_machine *m) {
    for (int32_t i = 0; i < m->nharts; i++) {
        nm_shadow *s = m->harts[i].shadow;
        if (s && s->depth)
            return 1;
    }
    return 0;
}

/* ---- records ----------------------------------------------------------------------------- */

static void drain(nm_hart *h) {
    h->m->py_drain(h->id);
}

static nm_call_record *record(nm_hart *h, int32_t type, int32_t api, int64_t seq) {
    nm_machine *m = h->m;
    if (m->nrecords == m->record_capacity)
        drain(h); /* Python empties the buffer */
    nm_call_record *r = &m->records[m->nrecords++];
    memset(r, 0, sizeof *r);
    r->type = type;
    r->hart = h->id;
    r->api = api;
    r->seq = seq;
    r->misses = h->cache_misses;
    r->transfers = h->cache_transfers;
    r->upgrades = h->cache_upgrades;
    r->line_wait = h->cache_line_wait_cycles;
    return r;
}

/* ---- actions ----------------------------------------------------------------------------- */

enum { RESULT_NONE = 0, RESULT_DATA = 1, RESULT_SKIP = -1 };

static int trace_entry(nm_hart *h, int32_t api, nm_frame *frame) {
    nm_machine *m = h->m;
    nm_api *a = &m->apis[api];
    nm_shadow *s = shadow_of(h);
    uint64_t args[6] = {0}, caller;
    if (a->syscall) { /* a system call's handler: the arguments are a0..a5 of the ecall */
        uint8_t *p = ram_at(m, h->gpr[A0], 8 * (uint64_t)a->nargs);
        if (p)
            memcpy(args, p, 8 * (size_t)a->nargs);
        caller = m->ecall_caller && h->has_ecall ? h->ecall_pc : *h->mepc;
    } else {
        for (int i = 0; i < a->nargs; i++)
            args[i] = h->gpr[A0 + i];
        uint64_t ra = h->gpr[RA];
        /* the call's own address; a tail call (its return address is the trampoline) is
         * charged to the outer call's site */
        caller = ra == m->trampoline && s->depth ? s->frames[s->depth - 1].caller : ra - 4;
    }
    int32_t depth = 0;
    for (int32_t i = 0; i < s->depth; i++)
        depth += s->frames[i].kind == ACT_TRACE && s->frames[i].layer == a->layer;
    int64_t now = hart_now(h);
    int64_t seq = m->calls++;
    int injected = a->fail_at && ++a->calls == a->fail_at;
    nm_call_record *r = record(h, injected ? RECORD_INJECTED : RECORD_ENTRY, api, seq);
    r->depth = depth;
    r->nested = s->depth > 0;
    r->now = now;
    r->clock = h->clock + now - h->instret;
    r->caller = caller;
    memcpy(r->args, args, sizeof args);
    if (injected) { /* return at once with the failure, the function unrun */
        h->gpr[A0] = a->fail_value;
        *h->pc = h->gpr[RA];
        r->result = a->fail_value;
        if (a->now_entry || a->now_return || m->sync_first_entry) {
            m->sync_first_entry = 0;
            drain(h);
        }
        return RESULT_SKIP;
    }
    if (a->now_entry || m->sync_first_entry) {
        m->sync_first_entry = 0;
        drain(h);
    }
    *frame = (nm_frame){.kind = ACT_TRACE,
                        .api = api,
                        .layer = a->layer,
                        .caller = caller,
                        .data = seq,
                        .arg0 = args[0]};
    return RESULT_DATA;
}

static void trace_return(nm_hart *h, const nm_frame *frame) {
    nm_machine *m = h->m;
    nm_api *a = &m->apis[frame->api];
    nm_call_record *r = record(h, RECORD_RETURN, frame->api, frame->data);
    r->now = hart_now(h);
    r->result = h->gpr[A0];
    if (a->out && r->result == 0) {
        uint8_t *p = ram_at(m, frame->arg0, 8);
        if (p)
            memcpy(&r->out, p, 8);
    }
    if (a->now_return)
        drain(h);
}

int32_t nm_declare_lock(nm_machine *m, uint64_t address);
void nm_declared_acquired(nm_machine *m, uint64_t address, int32_t hart, int64_t entered,
                          int64_t now);
void nm_declared_release(nm_machine *m, uint64_t address, int32_t hart, int64_t now);

static int run_action(nm_hart *h, int32_t kind, int32_t argument, nm_frame *frame) {
    nm_machine *m = h->m;
    switch (kind) {
    case ACT_TRACE:
        return trace_entry(h, argument, frame);
    case ACT_LOCK_ACQUIRE:
        nm_declare_lock(m, h->gpr[A0]);
        *frame = (nm_frame){.kind = ACT_LOCK_ACQUIRE,
                            .caller = h->gpr[RA] - 4,
                            .data = (int64_t)h->gpr[A0],
                            .entered = hart_now(h)};
        return RESULT_DATA;
    case ACT_LOCK_RELEASE:
        nm_declared_release(m, h->gpr[A0], h->id, hart_now(h));
        return RESULT_NONE;
    case ACT_REGION:
        *frame = (nm_frame){.kind = ACT_REGION, .caller = h->gpr[RA] - 4, .data = argument};
        return RESULT_DATA;
    default: {
        int64_t handle = m->py_probe_entry(h->id, argument);
        if (handle == 0 || nm_error)
            return RESULT_NONE;
        if (handle < 0)
            return RESULT_SKIP;
        *frame = (nm_frame){.kind = ACT_PYTHON, .caller = h->gpr[RA] - 4, .data = handle};
        return RESULT_DATA;
    }
    }
}

/* ---- the traps --------------------------------------------------------------------------- */

void probe_entry(nm_hart *h, int32_t index) {
    nm_machine *m = h->m;
    nm_probe *p = &m->probes[index];
    nm_frame frame;
    int result = RESULT_NONE;
    for (int32_t i = 0; i < p->nactions && result == RESULT_NONE; i++)
        result = run_action(h, p->action[i], p->argument[i], &frame);
    if (result == RESULT_SKIP || nm_error)
        return;
    if (result == RESULT_DATA && p->has_return) {
        frame.probe = index;
        frame.return_address = h->gpr[RA];
        if (push(h, &frame) == 0) {
            h->gpr[RA] = m->trampoline;
            count_call(h, &frame);
            update_op(h);
        }
    }
    if (m->stopped)
        return;
    if (p->slot) { /* out of line: the slot's exit trap sends the hart on to entry + length */
        (*h->counter)--;
        *h->pc = p->slot;
        return;
    }
    *h->pc = execute_displaced(h, p->word, p->address);
}

void probe_slot_exit(nm_hart *h, int32_t index) {
    nm_probe *p = &h->m->probes[index];
    (*h->counter)--;
    *h->pc = p->address + (uint64_t)p->length;
}

void probe_trampoline(nm_hart *h) {
    nm_machine *m = h->m;
    nm_shadow *s = shadow_of(h);
    if (!s || !s->depth) { /* a return nobody probed: an exception, as Python makes it */
        m->py_exception(h->id, 2);
        return;
    }
    nm_frame frame = s->frames[--s->depth];
    *h->pc = frame.return_address;
    update_op(h);
    switch (frame.kind) {
    case ACT_TRACE:
        trace_return(h, &frame);
        break;
    case ACT_LOCK_ACQUIRE:
        nm_declared_acquired(m, (uint64_t)frame.data, h->id, frame.entered, hart_now(h));
        break;
    case ACT_REGION:
        break;
    default:
        m->py_probe_return(h->id, frame.probe, frame.data, frame.return_address);
        break;
    }
    (*h->counter)--;
}
