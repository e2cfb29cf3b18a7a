/*
 * The part of unicorn's public C API (2.1.4, pinned in pyproject.toml) the native layer uses.
 * The PyPI wheel ships libunicorn without headers, so the few declarations needed are written
 * here from unicorn's include/unicorn/unicorn.h (tag v2.1.4): the engine handle, the hook
 * types and callback signatures used (lines 199-216, 361-392, 447-449), uc_mem_type (265-267),
 * uc_prot, uc_emu_start/uc_emu_stop (1040-1063) and uc_vmem_translate (1025-1026).
 *
 * No function is linked: Python passes the addresses of the library's functions (the
 * binding's `uclib`) into nm_machine, so this library loads whatever libunicorn the binding
 * loaded.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct uc_struct uc_engine;
typedef size_t uc_hook;
typedef int uc_err; /* enum uc_err: 0 is UC_ERR_OK */

#define UC_HOOK_INTR (1 << 0)
#define UC_HOOK_MEM_READ (1 << 10)
#define UC_HOOK_MEM_WRITE (1 << 11)

#define UC_MEM_READ 16
#define UC_MEM_WRITE 17

#define UC_PROT_EXEC 4

typedef void (*uc_cb_hookintr_t)(uc_engine *uc, uint32_t intno, void *user_data);
typedef void (*uc_cb_hookmem_t)(uc_engine *uc, int type, uint64_t address, int size, int64_t value,
                                void *user_data);

typedef uc_err (*emu_start_fn)(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout,
                               size_t count);
typedef uc_err (*emu_stop_fn)(uc_engine *uc);
typedef uc_err (*vmem_translate_fn)(uc_engine *uc, uint64_t address, int prot, uint64_t *paddress);
