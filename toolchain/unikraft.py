"""A Unikraft library folder read as a library of this project, so that an allocator written for
Unikraft's lib/ builds here without edits: the user points at its folder (--lib PATH).

What is read, and nothing more:
- Makefile.uk: the library's name (`$(eval $(call addlib[_s],libNAME,...))`) and its sources
  (`LIBNAME_SRCS-y += $(LIBNAME_BASE)/file.c`, also `-$(CONFIG_X)` lines when X is on); its
  public headers are its include/ folder, as Unikraft's CINCLUDES line says by convention.
- Config.uk: the defaults of the options it declares (`config X` with `bool`/`int`/`hex`/
  `string` and `default`), given to every file as CONFIG_X, as Unikraft's generated config does.

Such a library is an allocator backend: Unikraft's ukboot calls `uk_<name>_init(base, len)`
(`uk_allocbbuddy_init` for ukallocbbuddy, `uk_tinyalloc_init` for tinyalloc); here the
interface's alloc_init does. It gets Unikraft's headers from the ukcore library
(guest/lib/ukcore: uk/alloc.h, uk/alloc_impl.h and the small platform headers).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from toolchain import catalog

_ADDLIB = re.compile(r"\$\(call\s+addlib(?:_s)?\s*,\s*lib(?P<name>\w+)\s*[,)]")
_SOURCE = re.compile(r"^LIB(?P<lib>\w+?)_SRCS-(?P<cond>y|\$\(CONFIG_\w+\))\s*\+=\s*(?P<files>.*)$")
_CONFIG = re.compile(r"^\s*(?:menu)?config\s+(?P<name>\w+)\s*$")
_TYPE = re.compile(r'^\s*(?P<type>bool|int|hex|string|tristate)(?:\s+"(?P<prompt>[^"]*)")?\s*$')
_DEFAULT = re.compile(r"^\s*default\s+(?P<value>\S+)(?:\s+if\s+.*)?$")


def _options(directory: Path) -> dict[str, str]:
    """Config.uk's options at their defaults, as CONFIG_ macros (a bool that is off is left
    undefined, as in Unikraft's generated config). The first prompt is the description."""
    path = directory / "Config.uk"
    found: dict[str, str] = {}
    if not path.is_file():
        return found
    name, kind = "", ""
    for line in path.read_text(errors="replace").splitlines():
        if m := _CONFIG.match(line):
            name, kind = m["name"], ""
        elif name and (m := _TYPE.match(line)):
            kind = m["type"]
            if m["prompt"] and "__prompt__" not in found:
                found["__prompt__"] = m["prompt"]
        elif name and kind and (m := _DEFAULT.match(line)):
            value = m["value"]
            if kind in ("bool", "tristate"):
                if value == "y":
                    found.setdefault(f"CONFIG_{name}", "1")
            elif value.startswith("$"):
                continue  # a value from elsewhere: Unikraft's build would know; we do not
            else:
                found.setdefault(f"CONFIG_{name}", value)
    return found


def library(directory: Path) -> catalog.Library:
    """The library in a Unikraft library folder (Makefile.uk, optional Config.uk)."""
    makefile = directory / "Makefile.uk"
    text = makefile.read_text(errors="replace")
    # A line ending in a backslash continues on the next.
    text = re.sub(r"\\\n", " ", text)
    named = _ADDLIB.search(text)
    if not named:
        raise catalog.CatalogError(
            f"{makefile}: no `$(eval $(call addlib_s,libNAME,$(CONFIG_LIBNAME)))` line: "
            "cannot tell the library's name"
        )
    upper = named["name"].upper()
    options = _options(directory)
    prompt = options.pop("__prompt__", "")
    options[f"CONFIG_LIB{upper}"] = "1"
    sources: list[Path] = []
    for line in text.splitlines():
        m = _SOURCE.match(line.strip())
        if not m or m["lib"] != upper:
            continue
        cond = m["cond"]
        if cond != "y" and cond[2:-1] not in options:
            continue
        for word in m["files"].split():
            word = word.split("|", 1)[0]  # Unikraft's `file.c|variant`
            word = word.replace(f"$(LIB{upper}_BASE)", str(directory))
            if "$(" in word:
                raise catalog.CatalogError(
                    f"{makefile}: source {word!r} names a make variable this reader does not "
                    f"know; sources are $(LIB{upper}_BASE)/FILE"
                )
            path = Path(word) if Path(word).is_absolute() else directory / word
            if not path.is_file():
                raise catalog.CatalogError(f"{makefile}: source {path} does not exist")
            if path.suffix not in (".c", ".S", ".s"):
                raise catalog.CatalogError(
                    f"{makefile}: source {path.name} is not C or assembly; only those build here"
                )
            sources.append(path)
    if not sources:
        raise catalog.CatalogError(
            f"{makefile}: no sources (LIB{upper}_SRCS-y += $(LIB{upper}_BASE)/FILE.c lines)"
        )
    short = named["name"].removeprefix("uk")
    options["UK_ALLOC_UNIKRAFT_LIBNAME"] = named["name"]  # ukcore's uk_alloc_unikraft_name
    return catalog.Library(
        name=named["name"],
        description=prompt or f"Unikraft library lib{named['name']}",
        kind="backend",
        directory=directory,
        sources=tuple(sources),
        requires=("ukcore",),
        init=f"uk_{short}_init",
        caps=(),
        platform_sources={},
        listed=True,
        defines=options,
        name_symbol="uk_alloc_unikraft_name",
    )


@cache
def provided_headers() -> tuple[str, ...]:
    """The Unikraft headers this runtime provides (ukcore's include/), for messages."""
    include = catalog.libraries()["ukcore"].directory / "include"
    return tuple(
        sorted(str(p.relative_to(include)) for p in include.rglob("*.h") if p.parts[-2] != "alloc")
    )
