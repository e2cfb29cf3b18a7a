"""Builds guest images from guest/ sources with a RISC-V C compiler that pip installs.

The public surface is small: :func:`build` returns the path of an ELF image for an app and a
configuration, rebuilding only when a source, the configuration or the compiler changed;
:func:`apps` and :func:`configs` list what can be built.
"""

from toolchain.build import BuildError, build, image_key
from toolchain.catalog import App, Config, apps, configs, guest_root
from toolchain.compiler import Compiler, CompilerMissing, find_compiler

__all__ = [
    "App",
    "BuildError",
    "Compiler",
    "CompilerMissing",
    "Config",
    "apps",
    "build",
    "configs",
    "find_compiler",
    "guest_root",
    "image_key",
]
