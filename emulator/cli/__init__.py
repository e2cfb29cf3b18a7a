"""The command line: `python -m emulator run | apps | explore | bench | mutate` (main.py),
installed as `smp-emulator`; what the scripts under scripts/ share with it: one-line errors,
checked arguments (scripts.py); and the same front end for pytest (pytest_plugin.py: the `smp`
fixture and markers users write their allocator's regression tests with).

May import: every layer below it.
"""

from emulator.cli.main import main, run_and_report

__all__ = ["main", "run_and_report"]
