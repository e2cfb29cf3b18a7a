"""What can be built: apps (guest/apps/NAME/app.toml), libraries (guest/lib/NAME/lib.toml),
configurations (guest/configs.toml), which name the libraries an image links, and firmwares
(FIRMWARES), which pick the platform layer and link address the runtime is built for."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from guest.contract import C


class CatalogError(Exception):
    """An app, library or configuration that does not exist or is described wrongly."""


@dataclass(frozen=True)
class App:
    name: str
    description: str
    directory: Path


@dataclass(frozen=True)
class Library:
    """A folder under guest/lib: public headers in include/, sources, a lib.toml manifest, and
    optionally a platform layer: plat/<platform>/ per platform (PLATFORMS)."""

    name: str
    description: str
    kind: str  # one of LIBRARY_KINDS
    directory: Path
    sources: tuple[Path, ...]  # compiled into every image that links the library, in order
    requires: tuple[str, ...] = ()
    init: str = ""  # an allocator's init function (backend, frontend)
    caps: tuple[str, ...] = ()  # what a backend promises (ALLOC_CAPS)
    # plat/<platform>/'s sources per platform; empty when the library has no platform layer.
    platform_sources: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    listed: bool = False  # lib.toml lists `sources` (their order is kept)

    def compiled(self, platform: str) -> tuple[Path, ...]:
        """The sources an image for `platform` compiles, in order. A platform's files sort among
        the library's own by file name (unless lib.toml lists the order): a platform file that
        replaces a shared one keeps its place, so the link order of the rest stays put."""
        if not self.platform_sources:
            return self.sources
        if platform not in self.platform_sources:
            raise CatalogError(
                f"library {self.name} has no platform layer for {platform!r} "
                f"({self.directory / 'plat' / platform} is missing)"
            )
        own = self.platform_sources[platform]
        if self.listed:
            return self.sources + own
        return tuple(sorted(self.sources + own, key=lambda p: (p.name, str(p))))

    def tracked(self, platform: str) -> list[Path]:
        """Every file of the library an image for `platform` depends on: its own, and only that
        platform's layer (editing another platform's files rebuilds nothing)."""
        other = [self.directory / "plat" / p for p in self.platform_sources if p != platform]
        return [
            f for f in _files_under(self.directory) if not any(f.is_relative_to(o) for o in other)
        ]


@dataclass(frozen=True)
class Firmware:
    """What runs below the image, chosen per build (`--firmware`): it picks the runtime's
    platform layer (guest/lib/rt/plat/<platform>/) and where the image is linked."""

    name: str
    platform: str  # one of PLATFORMS
    base: int  # the image's entry: where its platform's boot.c links it (contract.h)
    description: str


# bare: the image is the firmware, in M-mode on every hart from RAM_BASE (QEMU -bios none);
# sbi: an S-mode payload at KERNEL_BASE, entered on one hart by SBI firmware such as OpenSBI.
PLATFORMS = ("bare", "sbi")
FIRMWARES: dict[str, Firmware] = {
    f.name: f
    for f in (
        Firmware(
            "none", "bare", C.RAM_BASE,
            "no firmware: the image runs in M-mode on every hart from RAM_BASE "
            "(QEMU -bios none)",
        ),
        Firmware(
            "opensbi", "sbi", C.KERNEL_BASE,
            "an S-mode payload at KERNEL_BASE for SBI firmware (OpenSBI): console, IPIs, timer, "
            "hart start and shutdown through SBI calls",
        ),
    )
}  # fmt: skip
DEFAULT_FIRMWARE = "none"


def firmware_below(bios: str) -> str:
    """The flavour to build an app in when `bios` (the emulator's --bios) runs below it: bare
    with none, else the SBI payload (the firmware named is SBI firmware: it starts the kernel
    in S mode at KERNEL_BASE, as OpenSBI's fw_jump and fw_dynamic do)."""
    if bios == "none":
        return DEFAULT_FIRMWARE
    return next(f.name for f in FIRMWARES.values() if f.platform == "sbi")


def firmware(name: str) -> Firmware:
    try:
        return FIRMWARES[name]
    except KeyError:
        raise CatalogError(
            f"no firmware named {name!r}; --firmware takes {' or '.join(FIRMWARES)}"
        ) from None


@dataclass(frozen=True)
class Config:
    """A named build configuration: the libraries and macros added to every app built with it."""

    name: str
    description: str
    defines: dict[str, str] = field(default_factory=dict)
    libraries: tuple[str, ...] = ()  # as named; required ones are added by image_libraries
    kind: str = "backend"  # base | backend | frontend | option | composed


KINDS = ("base", "backend", "frontend", "option")
GRAMMAR = "FRONTEND+PROVIDER[+OPTION...]"
# runtime: linked into every image; interface: what allocators implement and apps call;
# backend: a page allocator (a provider); frontend: an allocator over a provider; support: code or
# headers other libraries and apps use.
LIBRARY_KINDS = ("runtime", "interface", "backend", "frontend", "support")
_SOURCE_FILES = (".c", ".S", ".s")
# Everything that can change an image (the build's cache key covers these files).
SOURCE_SUFFIXES = {".c", ".S", ".s", ".h", ".ld", ".inc"}
_LIBRARY_FIELDS = ("description", "kind", "sources", "requires", "init", "caps")
# Capabilities a backend may declare (lib.toml `caps`); alloc/alloc.h defines UK_ALLOC_CAP_<NAME>
# for each, and code that depends on one asks UK_ALLOC_PROVIDER_HAS instead of naming backends.
ALLOC_CAPS = ("size-aligned", "frees-pages")
_ALLOCATORS = ("backend", "frontend")
_CONFIG_FIELDS = ("description", "kind", "libraries", "defines")


_SOURCES: list[Path] = []  # guest_sources() stack: another copy of the guest tree to build from


@contextmanager
def guest_sources(root: Path) -> Iterator[None]:
    """Build from the guest tree at `root` (a copy: a mutant's, emulator/explore/mutate.py)
    while inside; its images go beside it (build_dir) unless EMU_BUILD_DIR says otherwise."""
    _SOURCES.append(root)
    try:
        yield
    finally:
        _SOURCES.pop()


def guest_root() -> Path:
    if _SOURCES:
        return _SOURCES[-1]
    root = Path(__file__).resolve().parent.parent / "guest"
    if not (root / "include" / "contract.h").is_file():
        raise CatalogError(
            f"guest sources not found at {root}: install the project from its checkout "
            "with `pip install -e '.[test]'`"
        )
    return root


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{path}: {e}") from None


def _strings(where: str, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogError(f"{where}: {key} must be a list of strings, got {value!r}")
    return tuple(value)


# Each table is read once per guest tree (a test may point guest_root at a copy).


def apps() -> dict[str, App]:
    return _apps(guest_root())


@cache
def _apps(root: Path) -> dict[str, App]:
    found = {}
    for manifest in sorted((root / "apps").glob("*/app.toml")):
        data = _read_toml(manifest)
        name = manifest.parent.name
        found[name] = App(name, str(data.get("description", "")), manifest.parent)
    return found


def _library(directory: Path) -> Library:
    path = directory / "lib.toml"
    if not path.is_file():
        raise CatalogError(
            f"{directory} has no lib.toml: every folder under guest/lib is a library and "
            f"describes itself there ({', '.join(_LIBRARY_FIELDS)})"
        )
    data = _read_toml(path)
    unknown = sorted(set(data) - set(_LIBRARY_FIELDS))
    if unknown:
        raise CatalogError(
            f"{path}: unknown field {unknown[0]!r}; fields: {', '.join(_LIBRARY_FIELDS)}"
        )
    kind = data.get("kind")
    if kind not in LIBRARY_KINDS:
        raise CatalogError(f"{path}: kind is {kind!r}; kinds: {', '.join(LIBRARY_KINDS)}")
    description = data.get("description")
    if not isinstance(description, str) or not description:
        raise CatalogError(f"{path}: description must be a sentence saying what the library is")
    if "sources" in data:
        sources = tuple(directory / s for s in _strings(str(path), "sources", data["sources"]))
        for s in sources:
            if s.suffix not in _SOURCE_FILES or not s.is_file():
                raise CatalogError(
                    f"{path}: source {s.relative_to(directory)} is not a {'/'.join(_SOURCE_FILES)} "
                    "file in the library's folder"
                )
    else:  # every source file in the folder itself (include/ holds headers only)
        sources = tuple(sorted(p for p in directory.iterdir() if p.suffix in _SOURCE_FILES))
    platform_sources = _platform_layer(directory)
    requires = _strings(str(path), "requires", data.get("requires", []))
    init = data.get("init", "")
    if kind in _ALLOCATORS and not (
        isinstance(init, str) and init.isidentifier() and init.endswith("_init")
    ):
        raise CatalogError(
            f"{path}: a {kind} names its init function (a C name ending in _init), "
            f'e.g. init = "uk_{directory.name}_init"; got {init!r}'
        )
    if init and kind not in _ALLOCATORS:
        raise CatalogError(f"{path}: only a backend or a frontend has an init; this is a {kind}")
    caps = _strings(str(path), "caps", data.get("caps", []))
    if caps and kind != "backend":
        raise CatalogError(f"{path}: only a backend declares caps; this is a {kind}")
    for cap in caps:
        if cap not in ALLOC_CAPS:
            raise CatalogError(f"{path}: unknown cap {cap!r}; caps: {', '.join(ALLOC_CAPS)}")
    return Library(
        directory.name, description, kind, directory, sources, requires, init, caps,
        platform_sources, "sources" in data,
    )  # fmt: skip


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES)


def _platform_layer(directory: Path) -> dict[str, tuple[Path, ...]]:
    """plat/<platform>/'s source files per platform: a library either has no plat/ or a folder
    for every platform, and nothing else there."""
    plat = directory / "plat"
    if not plat.is_dir():
        return {}
    found = {p.name: p for p in plat.iterdir() if p.is_dir()}
    unknown = sorted(set(found) - set(PLATFORMS))
    stray = sorted(p.name for p in plat.iterdir() if not p.is_dir())
    missing = [p for p in PLATFORMS if p not in found]
    if unknown or stray or missing:
        what = (
            f"unknown platform {unknown[0]!r}" if unknown
            else f"stray file {stray[0]!r}" if stray
            else f"no folder for platform {missing[0]!r}"
        )  # fmt: skip
        raise CatalogError(
            f"{plat}: {what}; a platform layer has one folder per platform "
            f"({', '.join(PLATFORMS)}) and nothing else"
        )
    return {
        name: tuple(sorted(p for p in found[name].iterdir() if p.suffix in _SOURCE_FILES))
        for name in PLATFORMS
    }


def libraries() -> dict[str, Library]:
    """Every library under guest/lib, by name (its folder's name)."""
    return _libraries(guest_root())


@cache
def _libraries(root: Path) -> dict[str, Library]:
    found = {}
    for directory in sorted(p for p in (root / "lib").iterdir() if p.is_dir()):
        found[directory.name] = _library(directory)
    headers: dict[Path, str] = {}
    for lib in found.values():
        include = lib.directory / "include"
        for header in sorted(include.rglob("*.h")) if include.is_dir() else []:
            other = headers.setdefault(header.relative_to(include), lib.name)
            if other != lib.name:
                raise CatalogError(
                    f"libraries {other} and {lib.name} both have include/"
                    f"{header.relative_to(include)}: every public header has one owner"
                )
        for name in lib.requires:
            if name not in found:
                raise CatalogError(
                    f"{lib.directory / 'lib.toml'}: requires {name!r}, which is not a library; "
                    f"libraries: {', '.join(found)}"
                )
    return found


def image_libraries(config: Config) -> tuple[Library, ...]:
    """The libraries an image built with `config` links, in link order: the runtime libraries,
    then each library the configuration names, after the libraries it requires (transitively)."""
    table = libraries()
    order: dict[str, Library] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            circle = " -> ".join((*path[path.index(name) :], name))
            raise CatalogError(f"libraries require each other in a circle: {circle}")
        if name in order:
            return
        for required in table[name].requires:
            visit(required, (*path, name))
        order[name] = table[name]

    for name in [n for n, lib in table.items() if lib.kind == "runtime"] + list(config.libraries):
        visit(name, ())
    for kind in _ALLOCATORS:
        found = [lib.name for lib in order.values() if lib.kind == kind]
        if len(found) > 1:
            raise CatalogError(
                f"configuration {config.name!r} links {len(found)} {kind}s ({', '.join(found)}); "
                f"an image has at most one"
            )
    if any(lib.kind == "frontend" for lib in order.values()) and not any(
        lib.kind == "backend" for lib in order.values()
    ):
        raise CatalogError(
            f"configuration {config.name!r} links a frontend but no backend to give it pages"
        )
    return tuple(order.values())


def _cap_macro(cap: str) -> str:
    return "UK_ALLOC_CAP_" + cap.upper().replace("-", "_")


def image_defines(config: Config) -> dict[str, str]:
    """The macros an image's libraries give every file of it: CONFIG_LIB<NAME> for each library
    (Unikraft's spelling), and the allocators' init functions for the allocator interface
    (alloc/alloc.h, "Registration"): UK_ALLOC_BACKEND_INIT, UK_ALLOC_BACKEND_NAME (X_name beside
    X_init), UK_ALLOC_FRONTEND_INIT, and the backend's capabilities as UK_ALLOC_CAPS."""
    defines = {}
    for lib in image_libraries(config):
        defines["CONFIG_LIB" + "".join(c if c.isalnum() else "_" for c in lib.name).upper()] = "1"
        if lib.kind == "backend":
            defines["UK_ALLOC_BACKEND_INIT"] = lib.init
            defines["UK_ALLOC_BACKEND_NAME"] = lib.init.removesuffix("_init") + "_name"
            defines["UK_ALLOC_CAPS"] = "|".join(_cap_macro(c) for c in lib.caps) or "0"
        elif lib.kind == "frontend":
            defines["UK_ALLOC_FRONTEND_INIT"] = lib.init
    return defines


def parts() -> dict[str, Config]:
    """Every entry of guest/configs.toml as written, frontends and options included."""
    return _parts(guest_root())


@cache
def _parts(root: Path) -> dict[str, Config]:
    path = root / "configs.toml"
    data = _read_toml(path)
    found = {}
    for name, body in data.items():
        where = f"{path}: [{name}]"
        unknown = sorted(set(body) - set(_CONFIG_FIELDS))
        if unknown:
            hint = " (a configuration names libraries, not files)" if "sources" in unknown else ""
            raise CatalogError(
                f"{where}: unknown field {unknown[0]!r}{hint}; fields: {', '.join(_CONFIG_FIELDS)}"
            )
        kind = str(body.get("kind", "backend"))
        if kind not in KINDS:
            raise CatalogError(f"{where} has kind {kind!r}; kinds: {', '.join(KINDS)}")
        if "+" in name:
            raise CatalogError(f"{where}: '+' is reserved for composed names")
        defines = {str(k): str(v) for k, v in body.get("defines", {}).items()}
        named = _strings(where, "libraries", body.get("libraries", []))
        for lib in named:
            if lib not in libraries():
                raise CatalogError(
                    f"{where} names library {lib!r}, which does not exist; "
                    f"libraries: {', '.join(libraries())}"
                )
        found[name] = Config(name, str(body.get("description", "")), defines, named, kind)
    return found


def _of_kind(kind: str) -> list[str]:
    return [n for n, c in parts().items() if c.kind == kind]


def compose(name: str) -> Config:
    """The configuration FRONTEND+PROVIDER[+OPTION...]: the parts' libraries and defines merged in
    order (a later part's define wins). Raises CatalogError naming the known parts."""
    frontend, *rest = name.split("+")
    provider, options = (rest[0], rest[1:]) if rest else ("", [])
    table = parts()
    frontends, providers, known_options = (
        _of_kind("frontend"),
        _of_kind("backend"),
        _of_kind("option"),
    )
    problems = []
    if table.get(frontend, Config("", "", kind="")).kind != "frontend":
        problems.append(f"{frontend!r} is not a frontend")
    if table.get(provider, Config("", "", kind="")).kind != "backend":
        problems.append(f"{provider!r} is not a provider" if provider else "no provider given")
    for option in options:
        if table.get(option, Config("", "", kind="")).kind != "option":
            problems.append(f"{option!r} is not an option")
    if len(set(options)) != len(options):
        problems.append("an option is repeated")
    if problems:
        raise CatalogError(
            f"no configuration named {name!r} ({'; '.join(problems)}): composed names are "
            f"{GRAMMAR}; frontends: {', '.join(frontends)}; providers: {', '.join(providers)}; "
            f"options: {', '.join(known_options)}"
        )
    defines: dict[str, str] = {}
    named: list[str] = []
    for part in [frontend, provider, *options]:
        defines.update(table[part].defines)
        named += [n for n in table[part].libraries if n not in named]
    words = [table[frontend].description, f"pages from {provider}"]
    words += [table[o].description for o in options]
    return Config(name, "; ".join(words), defines, tuple(named), "composed")


def configs() -> dict[str, Config]:
    """Every configuration `--config` accepts: the plain ones, then each frontend over each
    provider, without and with each option."""
    return _configs(guest_root())


@cache
def _configs(root: Path) -> dict[str, Config]:
    found = {n: c for n, c in parts().items() if c.kind in ("base", "backend")}
    for frontend in _of_kind("frontend"):
        for provider in _of_kind("backend"):
            for options in [[], *([o] for o in _of_kind("option"))]:
                c = compose("+".join([frontend, provider, *options]))
                found[c.name] = c
    return found


def app(name: str) -> App:
    try:
        return apps()[name]
    except KeyError:
        known = ", ".join(apps())
        raise CatalogError(f"no app named {name!r}; bundled apps: {known}") from None


def config(name: str) -> Config:
    found = configs().get(name)
    if found:
        return found
    if "+" in name:
        return compose(name)
    part = parts().get(name)
    if part and part.kind in ("frontend", "option"):
        raise CatalogError(
            f"{name!r} is {'an' if part.kind == 'option' else 'a'} {part.kind}, not a "
            f"configuration: use {GRAMMAR}, "
            f"e.g. {next(n for n, c in configs().items() if c.kind == 'composed')}"
        )
    plain = ", ".join(n for n, c in configs().items() if c.kind != "composed")
    raise CatalogError(
        f"no configuration named {name!r}; known: {plain}, and composed names {GRAMMAR} "
        "(`python -m toolchain list` shows them)"
    )
