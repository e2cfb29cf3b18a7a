#!/usr/bin/env python3
"""Run an image or a bundled app with the allocation tracer and say where the trace went.

    python scripts/trace_allocs.py --app alloc-seq --config bbuddy-spin --harts 2
    python scripts/trace_allocs.py --app alloc-tests --config bbuddy-lockfree --harts 4 \\
        --schedule random --quantum 5 --seed 3 --check

Same options as `python -m emulator run` (console off unless --show-console). The run
directory gets allocs.jsonl (one call a line, README "Allocation traces"), allocs.trace.json
(open it at https://ui.perfetto.dev: a track per hart, a slice per call, a flow per remote free,
live bytes per hart) and allocs.json (the per-hart table printed at the end).
"""

import sys

from emulator.cli import script_main

if __name__ == "__main__":
    sys.exit(script_main(__doc__, trace=True))
