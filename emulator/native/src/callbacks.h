/* The callbacks into Python (ctypes CFUNCTYPEs that Python stores in nm_machine): only for what
 * Python decides. A callback never raises into C: Python keeps the exception, sets nm_error and
 * stops the hart, and re-raises when C returns. */
#pragma once
#include "unicorn_api.h"

/* An exception (not a site of ours): Python enters the trap (hart.py Hart._on_intr). */
typedef void (*py_exception_fn)(int32_t hart, uint32_t intno);
/* An instrument's trap site whose handler is Python (hooks.traps[address].handler). */
typedef void (*py_trap_fn)(int32_t hart, int32_t index, uint64_t epc);
/* A preemption point: switch the hart out in front of the step at epc? (Hooks.step) */
typedef int32_t (*py_step_fn)(int32_t hart, uint64_t epc);
/* Stop the run with a fault of the hart at pc (Hart.fault). */
typedef void (*py_fault_fn)(int32_t hart, uint64_t pc, const char *what);
/* An atomic, as events.Atomic, for Python observers (kind: ATOMIC_*; funct5 names the AMO). */
typedef void (*py_atomic_fn)(int32_t hart, int64_t instret, uint64_t pc, int32_t kind,
                             int32_t funct5, int32_t width, int64_t address, uint64_t old,
                             uint64_t value, int32_t ok);
/* Take the traced calls recorded so far (nm_machine.records) and empty the buffer. */
typedef void (*py_drain_fn)(int32_t hart);
/* A probe's Python action at entry: 0 if it returned None, -1 for SKIP, else a handle for the
 * data it returned (given back at the return). */
typedef int64_t (*py_probe_entry_fn)(int32_t hart, int32_t index);
typedef void (*py_probe_return_fn)(int32_t hart, int32_t index, int64_t handle,
                                   uint64_t return_address);
/* The hart's memory log is full: Python takes its records (nm_hart.accesses) and empties it. */
typedef void (*py_accesses_fn)(int32_t hart);
/* The trace writer in C (calllog.c): write out `length` bytes of a buffer's text (LOG_JSONL,
 * LOG_CHROME), and look up a caller's symbol (Python answers with nm_log_symbol). */
typedef void (*py_log_write_fn)(int32_t which, const char *text, int64_t length);
typedef void (*py_log_symbol_fn)(uint64_t pc);
