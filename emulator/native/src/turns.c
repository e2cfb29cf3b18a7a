/* The turn loop (machine/machine.py Machine.run) in C, for when Python's cost per turn would
 * dominate (fine quanta, exploration). The policy decides here from the state Python gave it
 * (nm_schedule: rr, random with Python's own MT19937 and its exact draws, replay, timed), so a
 * seed or a schedule file gives the same turns on both paths. Whatever a turn needs Python for
 * hands back (nm_loop.reason): no hart can run, a timer line to change, the budget, a wfi, a
 * reservation held at the turn's end, a stop, a fault, a timer deadline reached. */
#include "native.h"

/* ---- Python's random.Random (MT19937, Modules/_randommodule.c) --------------------------- */

static uint32_t genrand_uint32(nm_schedule *s) {
    static const uint32_t mag01[2] = {0x0u, 0x9908b0dfu};
    uint32_t y;
    uint32_t *mt = s->mt;
    if (s->mt_index >= 624) {
        int kk;
        for (kk = 0; kk < 624 - 397; kk++) {
            y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
            mt[kk] = mt[kk + 397] ^ (y >> 1) ^ mag01[y & 1];
        }
        for (; kk < 623; kk++) {
            y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
            mt[kk] = mt[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 1];
        }
        y = (mt[623] & 0x80000000u) | (mt[0] & 0x7fffffffu);
        mt[623] = mt[396] ^ (y >> 1) ^ mag01[y & 1];
        s->mt_index = 0;
    }
    y = mt[s->mt_index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static int bit_length(uint64_t n) {
    int k = 0;
    while (n) {
        k++;
        n >>= 1;
    }
    return k;
}

/* random.Random._randbelow_with_getrandbits(n) for 0 < n < 2**32 (getrandbits(k), k <= 32) */
static uint64_t randbelow(nm_schedule *s, uint64_t n) {
    int k = bit_length(n);
    uint64_t r;
    do
        r = genrand_uint32(s) >> (32 - k);
    while (r >= n);
    return r;
}

/* ---- the policies' `next` (schedule/policies.py) ----------------------------------------- */

static int runnable(const nm_hart *h) {
    return h->state == HART_RUNNING;
}

static nm_hart *round_robin(nm_machine *m, int32_t *next) {
    int32_t n = m->nharts, i = *next;
    for (int32_t k = 0; k < n; k++) {
        nm_hart *h = &m->harts[(i + k) % n];
        if (runnable(h)) {
            *next = (i + k + 1) % n;
            return h;
        }
    }
    return NULL;
}

enum { PICK_NONE = 0, PICK_MADE = 1, PICK_ASK = 2 };

static int pick(nm_machine *m, nm_schedule *s, nm_hart **out, int64_t *quantum) {
    nm_hart *h = NULL;
    *quantum = s->quantum;
    switch (s->kind) {
    case SCHEDULE_RR:
        h = round_robin(m, &s->next);
        break;
    case SCHEDULE_RANDOM: {
        nm_hart *can[MAX_HARTS];
        int32_t count = 0;
        for (int32_t i = 0; i < m->nharts; i++)
            if (runnable(&m->harts[i]))
                can[count++] = &m->harts[i];
        if (!count)
            return PICK_NONE;
        h = can[randbelow(s, (uint64_t)count)];
        *quantum = 1 + (int64_t)randbelow(s, 2 * (uint64_t)s->quantum);
        break;
    }
    case SCHEDULE_REPLAY:
        while (s->turn_index < s->nturns) {
            int64_t hart = s->turns[2 * s->turn_index], until = s->turns[2 * s->turn_index + 1];
            if (hart < 0 || hart >= m->nharts)
                return PICK_ASK; /* Python says what is wrong with the file */
            s->turn_index++;
            nm_hart *c = &m->harts[hart];
            if (runnable(c) && c->instret < until) {
                *out = c;
                *quantum = until - c->instret;
                return PICK_MADE;
            }
        }
        h = round_robin(m, &s->next);
        break;
    case SCHEDULE_TIMED:
        for (int32_t i = 0; i < m->nharts; i++) {
            nm_hart *c = &m->harts[i];
            if (runnable(c) && (!h || c->clock < h->clock))
                h = c;
        }
        break;
    default:
        return PICK_ASK;
    }
    if (!h)
        return PICK_NONE;
    *out = h;
    return PICK_MADE;
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int64_t hand_back(nm_loop *loop, int32_t reason, nm_hart *h, int64_t quantum,
                         int64_t retired) {
    loop->reason = reason;
    loop->hart = h ? h->id : -1;
    loop->quantum = quantum;
    loop->retired = retired;
    return reason;
}

/* Turns until one needs Python (nm_loop.reason says which, and leaves the rest to it). */
int32_t nm_run_turns(nm_machine *m, nm_schedule *s, nm_loop *loop) {
    for (int64_t turns = 0; turns < loop->max_turns; turns++) {
        nm_hart *h = NULL;
        int64_t quantum;
        int picked = pick(m, s, &h, &quantum);
        if (picked == PICK_NONE)
            return hand_back(loop, LOOP_NO_PICK, NULL, 0, 0);
        if (picked == PICK_ASK)
            return hand_back(loop, LOOP_ASK_POLICY, NULL, 0, 0);
        int64_t remaining = loop->budget - loop->total;
        int timer = h->clock >= h->timer_at;
        if (remaining < quantum || timer != !!(h->levels & MIP_MTIP))
            return hand_back(loop, LOOP_PICKED, h, quantum, 0); /* the budget; a timer line */
        m->turn = h->id;
        int64_t retired = nm_hart_run(h, quantum);
        if (nm_error || h->error || h->at_wfi || h->ended == END_PARK || h->reservation != -1 ||
            h->state != HART_RUNNING || m->stopped || h->clock >= m->timer_wake_at)
            return hand_back(loop, LOOP_RAN, h, quantum, retired);
        loop->total += retired;
        loop->quanta++;
        loop->digest = loop->digest * 1000003u + ((uint64_t)h->id << 32 | (uint64_t)quantum);
        if (loop->turns) { /* a schedule being recorded; max_turns bounds the buffer */
            loop->turns[2 * loop->nturns] = h->id;
            loop->turns[2 * loop->nturns + 1] = h->instret;
            loop->nturns++;
        }
    }
    return hand_back(loop, LOOP_LIMIT, NULL, 0, 0);
}
