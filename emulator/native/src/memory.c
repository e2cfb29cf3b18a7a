/* The memory log (hooks.MemoryLog): a UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE hook over RAM that
 * counts every load and store and records it in the hart's buffer, which Python takes at the
 * end of the turn (or here, when it fills). This is the per-access path a model of every access
 * (coherence, in virtual time) builds on: no Python runs per access. */
#include "native.h"

void nm_on_memory(uc_engine *uc, int type, uint64_t address, int size, int64_t value,
                  void *user_data) {
    nm_hart *h = user_data;
    int write = type == UC_MEM_WRITE;
    (void)uc;
    (void)value;
    if (write)
        h->stores++;
    else
        h->loads++;
    if (h->naccesses == h->access_capacity)
        h->m->py_accesses(h->id); /* Python empties the buffer */
    nm_access *a = &h->accesses[h->naccesses++];
    a->now = hart_now(h);
    a->address = address;
    a->size = size;
    a->write = write;
}
