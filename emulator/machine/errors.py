"""Errors the user sees as one line and an exit status (statuses come from the contract)."""

from __future__ import annotations

from guest.contract import Status


class EmulatorError(Exception):
    """A problem the user can act on: printed as one line, never a traceback."""

    status = Status.BAD_INPUT


class BadInput(EmulatorError):
    """Bad input: a missing or wrong image, a bad option, a build that failed."""

    status = Status.BAD_INPUT
