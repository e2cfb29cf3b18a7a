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
    before = image_key("count-loop")
    main = app_dir / "apps" / "count-loop" / "main.c"
    main.write_text(main.read_text() + "\n/* changed */\n")
    assert image_key("count-loop") != before


def test_image_bytes_do_not_depend_on_where_the_checkout_is(tmp_path, monkeypatch):
    """Source paths go into the image as guest/... (asserts' __FILE__, DWARF), so a copy of the
    guest tree elsewhere builds the same bytes, and no checkout path leaks into console output."""
    import shutil

    import toolchain.catalog as catalog

    here = build("alloc-tests", "bbuddy-spin")
    other = tmp_path / "elsewhere" / "guest"
    shutil.copytree(catalog.guest_root(), other)
    monkeypatch.setattr(catalog, "guest_root", lambda: other)
    monkeypatch.setenv("EMU_BUILD_DIR", str(tmp_path / "build"))
    there = build("alloc-tests", "bbuddy-spin")
    data = there.read_bytes()
    assert data == here.read_bytes()
    assert str(tmp_path).encode() not in data and b"guest/lib/ukallocbbuddy/bbuddy.c" in data


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


def test_composed_configs_merge_their_parts():
    from toolchain import catalog

    c = catalog.config("mimalloc+bbuddy-lockfree")
    assert c.kind == "composed" and "mimalloc+bbuddy-lockfree" in configs()
    assert c.defines["MMAP_SHIM_LOCK"] == "none" and c.defines["ALLOC_STATS"] == "0"
    assert c.libraries == ("mimalloc", "ukallocnbbs")
    linked = [lib.name for lib in catalog.image_libraries(c)]
    assert linked == ["rt", "ukalloc", "mmapshim", "mimalloc", "ukallocifpages", "ukallocnbbs"]
    locked = catalog.config("mimalloc+bbuddy-unlocked+shimlock")
    assert locked.defines["MMAP_SHIM_LOCK"] == "spin" and locked.defines["ALLOC_LOCK"] == "none"
    # every frontend over every backend, without and with each option
    backends = [n for n, p in catalog.parts().items() if p.kind == "backend"]
    assert {f"mimalloc+{b}" for b in backends} | {
        f"mimalloc+{b}+shimlock" for b in backends
    } <= set(configs())
    assert image_key("hello", "mimalloc+bbuddy-spin") != image_key(
        "hello", "mimalloc+bbuddy-spin+shimlock"
    )
    assert image_key("hello", "mimalloc+bbuddy-spin") != image_key("hello", "mimalloc+region")


@pytest.mark.parametrize(
    "name, says",
    [
        ("mimalloc+nope", "'nope' is not a provider"),
        ("nope+bbuddy-spin", "'nope' is not a frontend"),
        ("mimalloc+bbuddy-spin+fast", "'fast' is not an option"),
        ("bbuddy-spin+region", "'bbuddy-spin' is not a frontend"),
        ("mimalloc", "is a frontend, not a configuration"),
        ("shimlock", "is an option, not a configuration"),
    ],
)
def test_unknown_composed_config_is_one_clear_error(name, says):
    from toolchain import catalog

    with pytest.raises(catalog.CatalogError) as e:
        catalog.config(name)
    assert says in str(e.value)
    if "+" in name:  # the message names every known part
        assert "frontends: mimalloc" in str(e.value) and "bbuddy-lockfree" in str(e.value)
        assert "options: shimlock" in str(e.value)


def test_cli_list_shows_composed_names():
    out = subprocess.run(
        [sys.executable, "-m", "toolchain", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert "mimalloc+bbuddy-lockfree" in out and "mimalloc+bbuddy-unlocked+shimlock" in out
