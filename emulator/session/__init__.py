"""The session: one run from options to run directory (run.py), the one table of run options
(options.py), run directories (rundir.py) and the pool that runs many runs (pool.py).

May import: the machine, schedule and instruments layers, and the toolchain (to build apps).
"""

from emulator.session.options import DEFAULT_APP, DEFAULT_BUDGET, RunOptions
from emulator.session.run import RunReport, exit_status, run

__all__ = ["DEFAULT_APP", "DEFAULT_BUDGET", "RunOptions", "RunReport", "exit_status", "run"]
