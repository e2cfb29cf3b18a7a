"""The package as a user gets it: a wheel built from the sources, installed into a fresh venv,
boots the default app from another directory, with its image in the user's cache directory
and nothing written beside the installed package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import __version__

ROOT = Path(__file__).resolve().parent.parent
_LEFT_OUT = shutil.ignore_patterns(
    ".git", "build", "runs", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "*.elf"
)


def _sh(*cmd: str | Path, cwd: Path | None = None, env: dict | None = None, timeout=600):
    return subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A venv with the wheel installed (its dependencies from the system's site-packages, so
    nothing is downloaded but the build backend, when pip has not cached it)."""
    tmp = tmp_path_factory.mktemp("package")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_LEFT_OUT)
    built = _sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", src)
    if built.returncode != 0 and "setuptools" in built.stderr and "No matching" in built.stderr:
        pytest.skip("pip cannot fetch the build backend (setuptools) here")
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("smp_alloc_emulator-*.whl")
    assert wheel.name.startswith(f"smp_alloc_emulator-{__version__}-")
    _sh(sys.executable, "-m", "venv", "--system-site-packages", tmp / "venv").check_returncode()
    # --ignore-installed: the same version may be installed (editable) in the system's packages
    pip = tmp / "venv" / "bin" / "pip"
    installed = _sh(pip, "install", "-q", "--no-deps", "--ignore-installed", wheel)
    assert installed.returncode == 0, installed.stderr
    return tmp / "venv"


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EMU_BUILD_DIR")}
    env["EMU_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def test_the_installed_command_boots_the_default_app_elsewhere(venv, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(tmp_path)
    where = _sh(venv / "bin" / "python", "-c", "import emulator; print(emulator.__file__)",
                cwd=elsewhere, env=env)  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not the checkout
    version = _sh(venv / "bin" / "smp-emulator", "--version", cwd=elsewhere, env=env)
    assert version.stdout.strip() == f"smp-emulator {__version__}", version
    proc = _sh(venv / "bin" / "smp-emulator", "run", "--harts", "2", cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "hello: PASS" in proc.stdout
    images = list((tmp_path / "cache" / "images").glob("hello.default.*.elf"))
    assert len(images) == 1, images
    assert [p.name for p in elsewhere.iterdir()] == ["runs"]
    site = Path(where.stdout.strip()).parent.parent
    assert not (site / "build").exists()  # nothing written beside the package
    # python -m emulator stays, and the pytest plugin is registered by the install
    again = _sh(venv / "bin" / "python", "-m", "emulator", "--version", cwd=elsewhere, env=env)
    assert again.stdout.strip() == f"python -m emulator {__version__}", again
    plugins = _sh(venv / "bin" / "python", "-c",
                  "import importlib.metadata as m; "
                  "print(*[e.value for e in m.entry_points(group='pytest11')])",
                  cwd=elsewhere, env=env)  # fmt: skip
    assert "emulator.cli.pytest_plugin" in plugins.stdout.split()


def test_the_installed_package_builds_an_app_of_ones_own(venv, tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = _env(tmp_path)
    proc = _sh(
        venv / "bin" / "smp-emulator", "run", "--app", "./myapp", "--lib", "./ukallocfirstfit",
        "--config", "ukallocfirstfit", "--harts", "2", "--check",
        cwd=tmp_path / "examples", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "myapp: PASS" in proc.stdout and "heap walker ukallocfirstfit" in proc.stdout
