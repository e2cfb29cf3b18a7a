"""What the scripts under scripts/ share with `python -m emulator`: a parser whose usage errors
are one line and the bad-input status, argument types that check what they parse, errors as one
line with the documented status (`script_main`), and the command line that wrote a page."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator.cli.main import Parser, guarded
from emulator.session.options import at_least, count


def script_parser(doc: str | None, **kw: Any) -> Parser:
    """The parser of the script `__main__` is: its description is the first line of `doc`."""
    first = (doc or "").strip().splitlines()
    description = first[0] if first else None
    return Parser(prog=_invocation(), description=description, who=Path(sys.argv[0]).name, **kw)


def add_jobs(p: argparse.ArgumentParser, what: str = "worker processes") -> None:
    """`--jobs J`, the scripts' process-pool size: the core count unless told."""
    p.add_argument(
        "--jobs", type=checked(count, at_least(1)), default=os.cpu_count() or 1, metavar="J",
        help=f"{what} (default: the core count, %(default)s here)",
    )  # fmt: skip


def checked(parse: Callable[[str], Any], check: Callable[[Any], str | None]) -> Callable:
    """An argparse type: `parse`, then `check` (a check of the options table: at_least(1), ...)."""

    def parse_and_check(text: str) -> Any:
        value = parse(text)
        problem = check(value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem} (got {value!r})")
        return value

    return parse_and_check


def app_name(text: str) -> str:
    """An argparse type: a bundled app."""
    from toolchain import catalog

    try:
        catalog.app(text)
    except catalog.CatalogError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def config_name(text: str) -> str:
    """An argparse type: a build configuration."""
    from toolchain import catalog

    try:
        catalog.config(text)
    except catalog.CatalogError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def script_main(main: Callable[[], int | None]) -> None:
    """Run a script's main() and exit: a problem the user can fix is one line and its status."""
    sys.exit(guarded(lambda: main() or 0, prog=Path(sys.argv[0]).name))


def written_by() -> str:
    """The command line that ran this script, for the page it writes to say how it was made."""
    return " ".join([_invocation(), shlex.join(sys.argv[1:])]).strip()


def _invocation() -> str:
    path = Path(sys.argv[0])
    return f"python scripts/{path.name}" if path.parent.name == "scripts" else f"python {path}"
