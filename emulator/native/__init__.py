"""The native layer: the machine's per-event hot paths in C, so that no Python runs per event.

Below every other layer (it imports nothing from emulator): C sources in src/, built for the
host at first use by the same `ziglang` the guest toolchain uses (build.py, cached by source
hash in a user cache directory), loaded with ctypes; its callbacks are registered with
unicorn's C API, so unicorn calls C, never Python, on a trapped atomic, an LR/SC, a probe or a
memory access. What C and Python share is defined once, in layout.py (the C header is
generated from it).

  layout.py   the structures C and Python share, and the C header made from them
  build.py    compile, cache, load; `library()` is the loaded library or None
  src/        the C sources: unicorn_api.h (the part of unicorn's public API used, declared
              here because the PyPI wheel ships no headers), hart.c (the INTR hook: replaced
              sites, LR/SC, AMOs, fences, sync accesses, preemption points; a turn),
              monitor.c (the contention monitor's counts), probes.c and displaced.c (function
              probes: the tracer's records, declared locks, --fail), memory.c (the memory
              log's hook on every load and store), coherence.c (the timing model's
              directory and L1s on every load, store and atomic, and cache attribution),
              turns.c (the turn loop and the policies that decide in it), decode.c, map.c

What the layer reaches in unicorn (pinned in pyproject.toml): its public C API only
(uc_hook_add, uc_emu_start, uc_emu_stop, uc_vmem_translate, called through the addresses of
the functions the Python binding loaded), plus the fields the machine already reads in place
and checks when it starts: uc_struct.emu_counter (machine/icount.py finds its offset by
running a known sequence) and the CPU state's gpr, pc, priv, satp and mepc (machine/cpu.py,
checked by read-back). A unicorn that moved any of them fails there, loudly (UnicornChanged),
before a run. docs/native.md has the design and the figures.

Which path runs is decided in one place, `enabled()`: EMULATOR_NATIVE=0 keeps the pure-Python
path; otherwise the native layer runs when it builds, and when it cannot be built one line
says so and the Python path runs. Both paths give the same runs, byte for byte
(tests/test_native.py).
"""

from __future__ import annotations

import os

from emulator.native.build import library

__all__ = ["enabled", "library"]


def enabled() -> bool:
    """Whether a machine built now uses the native layer: not with EMULATOR_NATIVE=0 (read at
    each call, so one process can build machines of both kinds), nor when it cannot be built."""
    if os.environ.get("EMULATOR_NATIVE", "1").strip().lower() in ("0", "no", "off", "false"):
        return False
    return library() is not None
