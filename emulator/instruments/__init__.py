"""Instruments: observers of a run, each installed only when asked for.

  probes.py      function entry/return probes (trap sites in the machine's hooks)
  tracer.py      every allocator call per hart (allocs.jsonl, Perfetto trace, table)
  oracle.py      a shadow heap that checks every allocator call; heapwalk.py: the allocators'
                 own structures read from guest memory
  contention.py  atomics per hart and site, lock waits and holds (--atomics)
  timing.py      the virtual-time model (costs.toml: the coherence model; costs-atomics.toml);
                 coherence.py: the coherence model on the Python path; cacheprofile.py: its
                 traffic by allocator operation and data structure (cache.json)
  inject.py      fault injection: stalls and failed calls
  markers.py     the guest's timing markers (zero-length writes)

May import: the machine layer. An instrument registers what it needs in the machine's Hooks
before the machine is built, and afterwards only reads the machine or calls its two requests
(request_violation, stall).
"""
