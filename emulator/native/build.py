"""Build the native layer for this host, cache it, load it.

The sources (src/*.c, src/*.h) and the header generated from layout.py are compiled with
`python -m ziglang cc -shared -fPIC -O2` (the ziglang the guest toolchain already installs: no
system compiler) into one shared library, cached by a hash of everything that goes into it in
native/ under the user cache directory (toolchain/cache.py: $EMU_CACHE_DIR, else
$XDG_CACHE_HOME/smp-alloc-emulator, default ~/.cache/...), never in the source tree. A cached
library is reused while the sources are unchanged; a build writes under a temporary name and
renames, so processes building at once do not see each other's half-written files.

`library()` loads it once per process. When it cannot be built (no ziglang, a host zig cannot
target, a compile error), it prints one line saying so and returns None, and the machine runs
the pure-Python path.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.metadata
import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from emulator.native import layout
from toolchain.cache import user_cache_dir

SOURCES = Path(__file__).with_name("src")
FLAGS = ["-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror"]


def cache_dir() -> Path:
    """native/ in the project's one user cache directory (toolchain/cache.py: the guest
    images live there too)."""
    return user_cache_dir("native")


def _compiler() -> list[str]:
    return [sys.executable, "-m", "ziglang", "cc"]


def _inputs() -> tuple[str, dict[str, bytes]]:
    """(cache key, files): the sources and the generated header."""
    files = {p.name: p.read_bytes() for p in sorted(SOURCES.iterdir()) if p.suffix in (".c", ".h")}
    files["layout.h"] = layout.header().encode()
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    digest.update(" ".join(FLAGS).encode())
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        digest.update(importlib.metadata.version("ziglang").encode())  # the compiler's too
    return digest.hexdigest()[:16], files


def build() -> Path:
    """The library's path, built if needed; raises RuntimeError with the reason."""
    key, files = _inputs()
    out = cache_dir() / f"libnative-{key}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp)
        for name, data in files.items():
            (src / name).write_bytes(data)
        target = src / "lib.so"
        command = [
            *_compiler(),
            *FLAGS,
            "-o",
            str(target),
            *sorted(str(src / n) for n in files if n.endswith(".c")),
        ]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(f"cannot run ziglang ({e})") from None
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["no output"])[0]
            raise RuntimeError(f"the C sources did not compile: {first}")
        os.replace(target, out)
    return out


def _declare(lib: ctypes.CDLL) -> None:
    """Argument and result types of the library's entry points."""
    p, i32, i64, u32, u64 = (
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.c_int64,
        ctypes.c_uint32,
        ctypes.c_uint64,
    )
    signatures = {
        "nm_sizeof": (i64, [i32]),
        "nm_machine_init": (i32, [p]),
        "nm_machine_free": (None, [p]),
        "nm_add_site": (i32, [p, u64, u32, i32, i32, i32]),
        "nm_monitor_init": (i32, [p, i32]),
        "nm_timing_init": (i32, [p]),
        "nm_coherence_init": (i32, [p]),
        "nm_hart_run": (i64, [p, i64]),
        "nm_run_turns": (i32, [p, p, p]),
        "nm_declare_lock": (i32, [p, u64]),
        "nm_declared_acquired": (None, [p, u64, i32, i64, i64]),
        "nm_declared_release": (None, [p, u64, i32, i64]),
        "nm_frames_in_progress": (i32, [p]),
        "nm_execute_displaced": (u64, [u32, u64, p]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _check(lib: ctypes.CDLL) -> None:
    for index, struct in enumerate(layout.STRUCTS):
        c_size, py_size = lib.nm_sizeof(index), ctypes.sizeof(struct.ctype)
        if c_size != py_size:
            raise RuntimeError(
                f"struct {struct.name} is {c_size} bytes in C and {py_size} in ctypes"
            )


@cache
def library() -> ctypes.CDLL | None:
    """The loaded native library, or None (after one line on stderr saying why)."""
    try:
        from guest.contract import C

        if C.MAX_HARTS != layout.MAX_HARTS:
            raise RuntimeError(f"layout.MAX_HARTS {layout.MAX_HARTS} != {C.MAX_HARTS}")
        lib = ctypes.CDLL(str(build()))
        _declare(lib)
        _check(lib)
    except (RuntimeError, OSError) as e:
        print(
            f"emulator: the native layer is unavailable ({e}); running the pure-Python path",
            file=sys.stderr,
        )
        return None
    return lib
