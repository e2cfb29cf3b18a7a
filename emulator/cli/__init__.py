"""The command line: `python -m emulator run | apps | explore | bench` (main.py).

May import: every layer below it.
"""

from emulator.cli.main import main, run_and_report

__all__ = ["main", "run_and_report"]
