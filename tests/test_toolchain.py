"""The guest build: catalog, caching keyed by sources + configuration, compiler discovery."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from toolchain import CompilerMissing, apps, build, configs, find_compiler, image_key


def test_catalog_lists_apps_and_configs():
    assert {"hello", "locks", "traps", "wfi-ipi", "count-loop", "runaway"} <= set(apps())
    assert "default" in configs()
    assert all(a.description for a in apps().values())


def test_build_is_cached_and_keyed_by_macros(tmp_path, monkeypatch):
    monkeypatch.setenv("EMU_BUILD_DIR", str(tmp_path))
    first = build("count-loop")
    stamp = first.stat().st_mtime_ns
    assert build("count-loop") == first and first.stat().st_mtime_ns == stamp
    other = build("count-loop", defines={"COUNT_LOOP_ITERS": "7"})
    assert other != first and other.exists()
    assert image_key("count-loop") != image_key("count-loop", defines={"COUNT_LOOP_ITERS": "7"})


def test_source_change_changes_the_key(tmp_path, monkeypatch):
    import toolchain.catalog as catalog

    app_dir = tmp_path / "guest"
    # Copy the guest tree so the test can edit a source without touching the checkout.
    import shutil

    shutil.copytree(catalog.guest_root(), app_dir)
    monkeypatch.setattr(catalog, "guest_root", lambda: app_dir)
    catalog.apps.cache_clear()
    try:
        before = image_key("count-loop")
        main = app_dir / "apps" / "count-loop" / "main.c"
        main.write_text(main.read_text() + "\n/* changed */\n")
        assert image_key("count-loop") != before
    finally:
        catalog.apps.cache_clear()


def test_missing_compiler_message(monkeypatch):
    find_compiler.cache_clear()
    monkeypatch.setenv("RISCV_CC", "/nonexistent/clang")
    with pytest.raises(CompilerMissing, match="pip install ziglang"):
        find_compiler()
    find_compiler.cache_clear()


def test_cli_list_and_build(tmp_path):
    env = {**os.environ, "EMU_BUILD_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "toolchain", "list"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert "hello" in out and "default" in out
    proc = subprocess.run(
        [sys.executable, "-m", "toolchain", "build", "hello"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    path = proc.stdout.strip()
    assert path.startswith(str(tmp_path)) and path.endswith(".elf") and os.path.exists(path)
