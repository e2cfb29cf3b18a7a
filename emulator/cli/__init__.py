"""The command line: `python -m emulator run | apps | explore | bench` (main.py), and what the
scripts under scripts/ share with it: one-line errors, checked arguments (scripts.py).

May import: every layer below it.
"""

from emulator.cli.main import main, run_and_report

__all__ = ["main", "run_and_report"]
