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
def configs() -> dict[str, Config]:
    data = _read_toml(guest_root() / "configs.toml")
    found = {}
    for name, body in data.items():
        defines = {str(k): str(v) for k, v in body.get("defines", {}).items()}
        sources = tuple(str(s) for s in body.get("sources", ()))
        found[name] = Config(name, str(body.get("description", "")), defines, sources)
    return found


def app(name: str) -> App:
    try:
        return apps()[name]
    except KeyError:
        known = ", ".join(apps())
        raise CatalogError(f"no app named {name!r}; bundled apps: {known}") from None


def config(name: str) -> Config:
    try:
        return configs()[name]
    except KeyError:
        known = ", ".join(configs())
        raise CatalogError(f"no configuration named {name!r}; known: {known}") from None


def parse_define(text: str) -> tuple[str, str]:
    """`NAME=VALUE` (or `NAME`, meaning 1) from a -D option."""
    name, _, value = text.partition("=")
    if not name.isidentifier():
        raise argparse.ArgumentTypeError(f"-D wants NAME=VALUE, got {text!r}")
    return name, value or "1"
