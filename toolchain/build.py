"""Builds one guest image: the app and the libraries its configuration names (the runtime
and what they require), for one firmware (the runtime's platform layer and the link address),
linked with guest/link.ld.

Outputs go to an ignored build directory ($EMU_BUILD_DIR, default build/guest under the
checkout), one file per (sources, configuration, firmware, macros, compiler) key, so an
unchanged request costs one hash of the sources and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from toolchain import catalog
from toolchain.compiler import Compiler, find_compiler


class BuildError(Exception):
    """The compiler rejected the sources; the message carries its diagnostics."""


def build_dir() -> Path:
    env = os.environ.get("EMU_BUILD_DIR")
    return Path(env) if env else catalog.guest_root().parent / "build" / "guest"


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in catalog.SOURCE_SUFFIXES)


def _include_dirs() -> list[Path]:
    """guest/include (the contract), then every library's public headers: any app may include
    any of them, e.g. an allocator's header to say that the build has no allocator."""
    root = catalog.guest_root()
    return [root / "include"] + [
        lib.directory / "include"
        for lib in catalog.libraries().values()
        if (lib.directory / "include").is_dir()
    ]


def _inputs(
    app: catalog.App, config: catalog.Config, platform: str
) -> tuple[list[Path], list[Path]]:
    """(everything that can change the image, the files handed to the compiler): the link
    script, every public header, and the files of the app and of each library the image links
    (sources, private headers, lib.toml; of a platform layer only `platform`'s). Another
    library's sources, or another platform's, never change the key."""
    root = catalog.guest_root()
    linked = catalog.image_libraries(config)
    tracked = [root / "link.ld", *(h for d in _include_dirs() for h in _files_under(d))]
    for lib in linked:
        tracked += [lib.directory / "lib.toml"]
        tracked += [p for p in lib.tracked(platform) if p not in tracked]
    tracked += _files_under(app.directory)
    compiled = [s for lib in linked for s in lib.compiled(platform)]
    compiled += [p for p in _files_under(app.directory) if p.suffix in {".c", ".S", ".s"}]
    return tracked, compiled


def _firmware_flags(fw: catalog.Firmware) -> list[str]:
    """CONFIG_PLAT_<PLATFORM> for every file. (The link address comes from the platform layer:
    guest/link.ld starts at __image_base when the platform's boot.c defines it.)"""
    return [f"-DCONFIG_PLAT_{fw.platform.upper()}=1"]


def _path_flags(root: Path, kind: str) -> list[str]:
    """Source paths in the image (__FILE__ in guest asserts, DWARF) as `guest/...`, and the
    compilation directory as `.`: the same sources give the same image bytes in every clone,
    whatever the working directory."""
    cwd = "-fdebug-compilation-dir=." if kind != "gcc" else f"-fdebug-prefix-map={os.getcwd()}=."
    return [f"-ffile-prefix-map={root}=guest", cwd]


def _command(
    cc: Compiler,
    defines: dict[str, str],
    sources: list[Path],
    out: Path,
    fw: catalog.Firmware,
) -> list[str]:
    root = catalog.guest_root()
    macros = [f"-D{k}={v}" for k, v in sorted(defines.items())]
    return [
        *cc.command,
        *cc.flags(),
        *_path_flags(root, cc.kind),
        *(f"-I{d}" for d in _include_dirs()),
        *macros,
        *_firmware_flags(fw),
        "-T",
        str(root / "link.ld"),
        *map(str, sources),
        "-o",
        str(out),
    ]


def image_key(
    app: str,
    config: str = "default",
    defines: dict[str, str] | None = None,
    cc: Compiler | None = None,
    firmware: str = catalog.DEFAULT_FIRMWARE,
) -> str:
    """The cache key of an image: changes whenever anything that goes into it changes."""
    a, c, fw = catalog.app(app), catalog.config(config), catalog.firmware(firmware)
    cc = cc or find_compiler()
    merged = {**catalog.image_defines(c), **c.defines, **(defines or {})}
    tracked, _ = _inputs(a, c, fw.platform)
    h = hashlib.sha256()
    root = catalog.guest_root()
    for path in tracked:
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(
        json.dumps(
            [
                cc.command[-2:],
                cc.kind,
                cc.version,
                cc.flags(),
                _path_flags(Path("guest"), cc.kind)[0],  # their form, not the checkout's path
                sorted(merged.items()),
                _firmware_flags(fw),
            ]
        ).encode()
    )
    return h.hexdigest()[:16]


def build(
    app: str,
    config: str = "default",
    defines: dict[str, str] | None = None,
    *,
    cc: Compiler | None = None,
    force: bool = False,
    firmware: str = catalog.DEFAULT_FIRMWARE,
) -> Path:
    """Path of the ELF image for `app` built with `config` (+ extra macros) for `firmware`
    (catalog.FIRMWARES); builds if needed."""
    a, c, fw = catalog.app(app), catalog.config(config), catalog.firmware(firmware)
    cc = cc or find_compiler()
    merged = {**catalog.image_defines(c), **c.defines, **(defines or {})}
    key = image_key(app, config, defines, cc, firmware)
    suffix = "".join(f"-{k}={v}" for k, v in sorted((defines or {}).items()))
    if firmware != catalog.DEFAULT_FIRMWARE:
        suffix += f".{firmware}"
    out = build_dir() / f"{app}.{config}{suffix}.{key}.elf"
    if out.exists() and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    _, compiled = _inputs(a, c, fw.platform)
    # Build under a temporary name and rename: parallel runs never see half an image.
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    os.close(fd)
    cmd = _command(cc, merged, compiled, Path(tmp), fw)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        target = "" if firmware == catalog.DEFAULT_FIRMWARE else f" for firmware {firmware!r}"
        raise BuildError(
            f"building app {app!r} with configuration {config!r}{target} failed:\n"
            f"{proc.stderr.strip()}"
        )
    os.replace(tmp, out)
    return out
