"""Where this project keeps what it builds for the user: one directory per user, outside every
source tree and every installed package (a wheel's files are read-only to us, and a checkout
must stay clean). The guest images live under it, and anything else built for this host (a
native library) belongs there too: ask `user_cache_dir("what")` rather than picking a path.

$EMU_CACHE_DIR overrides it; otherwise the platform's convention: $XDG_CACHE_HOME (default
~/.cache) on Linux and the BSDs, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NAME = "smp-alloc-emulator"


def user_cache_dir(*parts: str) -> Path:
    """The user's cache directory for this project, or a folder under it (not created here:
    the caller makes what it writes)."""
    env = os.environ.get("EMU_CACHE_DIR")
    if env:
        root = Path(env).expanduser()
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches" / NAME
    elif sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        root = Path(base) / NAME / "Cache"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or ""
        # The XDG spec says a relative $XDG_CACHE_HOME is invalid and is to be ignored.
        root = (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / NAME
    return root.joinpath(*parts)
