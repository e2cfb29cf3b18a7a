/* Per-hart blocks and the machine facts boot discovered. */
#include <contract.h>
#include <rt/barrier.h>
#include <rt/hart.h>
#include <stdint.h>

struct hart_local hart_locals[MAX_HARTS];

/* Written once by runtime_boot on hart 0 before the other harts are released. */
unsigned runtime_hart_count;
uintptr_t runtime_heap_start;
uintptr_t runtime_heap_end;
struct barrier runtime_all_harts;

unsigned hart_count(void) {
    return runtime_hart_count;
}
void *heap_start(void) {
    return (void *)runtime_heap_start;
}
void *heap_end(void) {
    return (void *)runtime_heap_end;
}

void barrier_all(void) {
    barrier_wait(&runtime_all_harts);
}
