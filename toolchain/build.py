"""Builds one guest image: the app and the libraries its configuration names (the runtime
and what they require), for one firmware (the runtime's platform layer and the link address),
linked with guest/link.ld.

Outputs go to the user's cache directory ($EMU_BUILD_DIR, default `images/` under
toolchain.cache.user_cache_dir()), never into a checkout or an installed package (a copy of
the guest tree built from with catalog.guest_sources keeps its images beside it), one file per
(sources, configuration, firmware, macros, compiler) key, so an unchanged request costs one hash
of the sources and nothing else.

An app or a library found from a path (--app PATH, --lib PATH) builds the same way; inside the
image and in the cache key its files are named after it (`APP/main.c`, `LIB/alloc.c`), not after
where it lies, so its image is the same wherever the folder is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from toolchain import catalog
from toolchain.cache import user_cache_dir
from toolchain.compiler import Compiler, find_compiler


class BuildError(Exception):
    """The compiler rejected the sources; the message's first line is the compiler's first
    error (file, line and what), the rest its diagnostics."""


def build_dir() -> Path:
    env = os.environ.get("EMU_BUILD_DIR")
    if env:
        return Path(env)
    copy = catalog.guest_copy()
    if copy is not None:  # a copy's images (a mutant's) go beside it, and away with it
        return copy.parent / "build" / "guest"
    return user_cache_dir("images")


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in catalog.SOURCE_SUFFIXES)


def _include_dirs(search: tuple[Path, ...] = ()) -> list[Path]:
    """guest/include (the contract), then every library's public headers: any app may include
    any of them, e.g. an allocator's header to say that the build has no allocator."""
    root = catalog.guest_root()
    return [root / "include"] + [
        lib.directory / "include"
        for lib in catalog.libraries(search).values()
        if (lib.directory / "include").is_dir()
    ]


def _places(app: catalog.App, config: catalog.Config) -> dict[Path, str]:
    """Where files come from -> how the image names them: guest/ as `guest`, an app or a
    library found from a path by its own name."""
    places = {catalog.guest_root(): "guest"}
    for lib in catalog.libraries(config.search).values():
        if lib.external:
            places[lib.directory] = lib.name
    if app.external:
        places[app.directory] = app.name
    return places


def _label(path: Path, places: dict[Path, str]) -> str:
    for directory, name in sorted(places.items(), key=lambda p: -len(str(p[0]))):
        if path.is_relative_to(directory):
            return str(Path(name) / path.relative_to(directory))
    raise AssertionError(f"{path} is outside every source folder")


def _inputs(
    app: catalog.App, config: catalog.Config, platform: str
) -> tuple[list[Path], list[Path]]:
    """(everything that can change the image, the files handed to the compiler): the link
    script, every public header, and the files of the app and of each library the image links
    (sources, private headers, lib.toml; of a platform layer only `platform`'s). Another
    library's sources, or another platform's, never change the key."""
    root = catalog.guest_root()
    linked = catalog.image_libraries(config)
    tracked = [root / "link.ld"]
    tracked += [h for d in _include_dirs(config.search) for h in _files_under(d)]
    for lib in linked:
        manifests = [lib.directory / n for n in ("lib.toml", "Makefile.uk", "Config.uk")]
        tracked += [m for m in manifests if m.is_file()]
        tracked += [p for p in lib.tracked(platform) if p not in tracked]
    tracked += _files_under(app.directory)
    compiled = [s for lib in linked for s in lib.compiled(platform)]
    compiled += [p for p in _files_under(app.directory) if p.suffix in {".c", ".S", ".s"}]
    return tracked, compiled


def _firmware_flags(fw: catalog.Firmware) -> list[str]:
    """CONFIG_PLAT_<PLATFORM> for every file. (The link address comes from the platform layer:
    guest/link.ld starts at __image_base when the platform's boot.c defines it.)"""
    return [f"-DCONFIG_PLAT_{fw.platform.upper()}=1"]


def _path_flags(places: dict[Path, str], kind: str) -> list[str]:
    """Source paths in the image (__FILE__ in guest asserts, DWARF) as `guest/...` (an app or
    library from a path as `NAME/...`), and the compilation directory as `.`: the same sources
    give the same image bytes in every clone, whatever the working directory."""
    cwd = "-fdebug-compilation-dir=." if kind != "gcc" else f"-fdebug-prefix-map={os.getcwd()}=."
    # The longest folder first: a folder inside another maps by its own name.
    maps = sorted(places.items(), key=lambda p: -len(str(p[0])))
    return [*(f"-ffile-prefix-map={d}={name}" for d, name in maps), cwd]


def _command(
    cc: Compiler,
    defines: dict[str, str],
    sources: list[Path],
    out: Path,
    fw: catalog.Firmware,
    places: dict[Path, str],
    search: tuple[Path, ...],
) -> list[str]:
    root = catalog.guest_root()
    macros = [f"-D{k}={v}" for k, v in sorted(defines.items())]
    return [
        *cc.command,
        *cc.flags(),
        *_path_flags(places, cc.kind),
        *(f"-I{d}" for d in _include_dirs(search)),
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
    libs: Iterable[str | Path] = (),
) -> str:
    """The cache key of an image: changes whenever anything that goes into it changes."""
    a, c, fw = catalog.app(app), catalog.config(config, libs), catalog.firmware(firmware)
    cc = cc or find_compiler()
    merged = {**catalog.image_defines(c), **c.defines, **(defines or {})}
    tracked, _ = _inputs(a, c, fw.platform)
    places = _places(a, c)
    h = hashlib.sha256()
    for path in tracked:
        h.update(_label(path, places).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(
        json.dumps(
            [
                cc.command[-2:],
                cc.kind,
                cc.version,
                cc.flags(),
                # their form, not where the folders are
                sorted(_path_flags({Path(n): n for n in places.values()}, cc.kind)[:-1]),
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
    libs: Iterable[str | Path] = (),
) -> Path:
    """Path of the ELF image for `app` (a bundled app's name or an app folder's path) built with
    `config` (+ extra macros) for `firmware` (catalog.FIRMWARES), with the library folders
    `libs` available to the configuration; builds if needed."""
    search = catalog.library_paths(libs)
    a, c, fw = catalog.app(app), catalog.config(config, search), catalog.firmware(firmware)
    cc = cc or find_compiler()
    merged = {**catalog.image_defines(c), **c.defines, **(defines or {})}
    key = image_key(app, config, defines, cc, firmware, search)
    suffix = "".join(f"-{k}={v}" for k, v in sorted((defines or {}).items()))
    if firmware != catalog.DEFAULT_FIRMWARE:
        suffix += f".{firmware}"
    out = build_dir() / f"{a.name}.{config}{suffix}.{key}.elf"
    if out.exists() and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    _, compiled = _inputs(a, c, fw.platform)
    # Build under a temporary name and rename: parallel runs never see half an image.
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    os.close(fd)
    cmd = _command(cc, merged, compiled, Path(tmp), fw, _places(a, c), search)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        target = "" if firmware == catalog.DEFAULT_FIRMWARE else f" for firmware {firmware!r}"
        what = a.directory if a.external else repr(app)
        raise BuildError(
            f"building app {what} with configuration {config!r}{target} failed: "
            f"{first_error(proc.stderr, search)}\n{proc.stderr.strip()}"
        )
    os.replace(tmp, out)
    return out


_DIAGNOSTIC = re.compile(r"^(?P<where>.+?:\d+(?::\d+)?): (?:fatal )?error: (?P<what>.*)$")
_MISSING_HEADER = re.compile(
    r"'?(?P<header>[\w./-]+\.h)'? file not found|(?P<h2>[\w./-]+\.h): No such file"
)


def first_error(stderr: str, search: tuple[Path, ...] = ()) -> str:
    """The compiler's (or linker's) first error as one line: where (file:line:column) and what;
    a header that no library provides is named as such, a Unikraft one as one this runtime
    does not provide."""
    lines = stderr.splitlines()
    for line in lines:
        m = _DIAGNOSTIC.match(line.strip())
        if not m:
            continue
        where, what = m["where"], m["what"]
        missing = _MISSING_HEADER.search(what)
        if missing:
            header = missing["header"] or missing["h2"]
            if header.startswith("uk/"):
                from toolchain.unikraft import provided_headers

                return (
                    f"{where}: the Unikraft header <{header}> is not provided by this runtime "
                    f"(it provides {', '.join(f'<{h}>' for h in provided_headers())})"
                )
            return f"{where}: no library provides the header <{header}>"
        return f"{where}: error: {what}"
    for line in lines:  # a link error: ld.lld: error: undefined symbol: X
        if "error:" in line:
            return line.strip()
    return lines[0].strip() if lines else "the compiler said nothing"
