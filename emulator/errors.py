"""Errors the user sees as one line and an exit status (statuses come from the contract)."""

from __future__ import annotations

from emulator.contract import C


class EmulatorError(Exception):
    """A problem with what the user asked for: printed as one line, never a traceback."""

    status = C.EMU_STATUS_BAD_INPUT


class BadInput(EmulatorError):
    status = C.EMU_STATUS_BAD_INPUT
