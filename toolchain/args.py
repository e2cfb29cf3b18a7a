"""Command-line argument types shared by the toolchain's and the emulator's command lines."""

from __future__ import annotations

import argparse


def define(text: str) -> tuple[str, str]:
    """`NAME=VALUE` of a -D option (a macro for the guest build)."""
    name, eq, value = text.partition("=")
    if not name.isidentifier() or not eq:
        # argparse names the option: "argument -D: wants NAME=VALUE, got 'X'"
        raise argparse.ArgumentTypeError(f"wants NAME=VALUE, got {text!r}")
    return name, value
