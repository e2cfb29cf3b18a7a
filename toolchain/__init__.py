"""Builds guest images from guest/ sources with a RISC-V C compiler that pip installs.

The public surface is small: :func:`build` returns the path of an ELF image for an app (a
bundled one's name, or an app folder's path) and a configuration (with library folders of the
user's, `libs`), rebuilding only when a source, the configuration or the compiler changed;
:func:`apps` and :func:`configs` list what can be built; :func:`user_cache_dir` is where
anything built for the user goes (the images, and whatever else is built for this host).
"""

from toolchain.build import BuildError, build, image_key
from toolchain.cache import user_cache_dir
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
    "user_cache_dir",
]
