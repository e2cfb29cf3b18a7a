"""What can be built: apps (guest/apps/NAME/app.toml) and configurations (guest/configs.toml)."""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path


class CatalogError(Exception):
    """An app or configuration that does not exist or is described wrongly."""


@dataclass(frozen=True)
class App:
    name: str
    description: str
    directory: Path


@dataclass(frozen=True)
class Config:
    """A named build configuration: macros and extra sources added to every app built with it."""

    name: str
    description: str
    defines: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # paths relative to guest/
    kind: str = "backend"  # base | backend | frontend | option | composed


KINDS = ("base", "backend", "frontend", "option")
GRAMMAR = "FRONTEND+PROVIDER[+OPTION...]"


def guest_root() -> Path:
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


@cache
def apps() -> dict[str, App]:
    found = {}
    for manifest in sorted((guest_root() / "apps").glob("*/app.toml")):
        data = _read_toml(manifest)
        name = manifest.parent.name
        found[name] = App(name, str(data.get("description", "")), manifest.parent)
    return found


@cache
def parts() -> dict[str, Config]:
    """Every entry of guest/configs.toml as written, frontends and options included."""
    path = guest_root() / "configs.toml"
    data = _read_toml(path)
    found = {}
    for name, body in data.items():
        kind = str(body.get("kind", "backend"))
        if kind not in KINDS:
            raise CatalogError(f"{path}: [{name}] has kind {kind!r}; kinds: {', '.join(KINDS)}")
        if "+" in name:
            raise CatalogError(f"{path}: [{name}]: '+' is reserved for composed names")
        defines = {str(k): str(v) for k, v in body.get("defines", {}).items()}
        sources = tuple(str(s) for s in body.get("sources", ()))
        found[name] = Config(name, str(body.get("description", "")), defines, sources, kind)
    return found


def _of_kind(kind: str) -> list[str]:
    return [n for n, c in parts().items() if c.kind == kind]


def compose(name: str) -> Config:
    """The configuration FRONTEND+PROVIDER[+OPTION...]: the parts' defines and sources merged in
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
    sources: list[str] = []
    for part in [frontend, provider, *options]:
        defines.update(table[part].defines)
        sources += [s for s in table[part].sources if s not in sources]
    words = [table[frontend].description, f"pages from {provider}"]
    words += [table[o].description for o in options]
    return Config(name, "; ".join(words), defines, tuple(sources), "composed")


@cache
def configs() -> dict[str, Config]:
    """Every configuration `--config` accepts: the plain ones, then each frontend over each
    provider, without and with each option."""
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


def parse_define(text: str) -> tuple[str, str]:
    """`NAME=VALUE` (or `NAME`, meaning 1) from a -D option."""
    name, _, value = text.partition("=")
    if not name.isidentifier():
        raise argparse.ArgumentTypeError(f"-D wants NAME=VALUE, got {text!r}")
    return name, value or "1"
