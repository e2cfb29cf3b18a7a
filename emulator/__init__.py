"""A multi-hart RISC-V machine over unicorn, built to judge SMP memory allocators.

Layers, each a folder; a module imports only from its own layer and the ones before it:

  native/       the per-event hot paths in C (traps, atomics, counters, probes, the turn loop),
                built for the host and loaded with ctypes; imports nothing from emulator
  machine/      the hardware: image, harts, RAM, devices, traps, atomics, the run loop, and the
                narrow interfaces (HartHost, Hooks, Policy) everything above meets it through
  schedule/     which hart runs next: rr, random, timed, pct, preempt-atomics, replay
  instruments/  observers installed on demand: probes, tracer, oracle, heap walkers,
                contention monitor, timing model, fault injection
  debug/        the GDB stub: stops harts between instructions, resumes the same turns
  session/      one run from options to run directory; the one table of run options
  explore/      many seeded schedules with the oracle on; minimization; planted bugs
  bench/        the allocation benchmark sweep and its report
  cli/          python -m emulator
  reference/    other machines we check against (QEMU)

The guest <-> host contract (memory map, syscall numbers, exit statuses) is guest.contract,
shared with the toolchain.
"""

__version__ = "0.1.0"
