"""Apps and allocator libraries of one's own, outside the package: an app folder (--app PATH),
a library folder with lib.toml or a Unikraft library (--lib PATH), built, run, traced and
checked like the bundled ones; and each kind of bad input as one line with status 64."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from guest.contract import Status
from tests.conftest import cli
from toolchain import catalog

ROOT = Path(__file__).resolve().parent.parent
MYAPP = ROOT / "examples" / "myapp"
FIRSTFIT = ROOT / "examples" / "ukallocfirstfit"


def _toolchain(*args: str, cwd: Path | None = None, env: dict | None = None):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "toolchain", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_an_app_folder_runs_from_anywhere_with_the_oracle(tmp_path):
    app = tmp_path / "elsewhere" / "myapp"
    shutil.copytree(MYAPP, app)
    proc = cli(
        "run", "--app", "./myapp", "--config", "bbuddy-spin", "--harts", "3", "--check",
        "--trace", cwd=app.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "myapp: PASS" in proc.stdout
    runs = list((app.parent / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-myapp-3h"), runs
    summary = _summary(runs[0])
    assert summary["app"] == "./myapp" and summary["oracle"]["checked_calls"] > 0
    assert "--app ./myapp" in summary["reproduce"]
    calls = [json.loads(line) for line in (runs[0] / "allocs.jsonl").read_text().splitlines()]
    assert {c["call"] for c in calls} >= {"malloc", "free", "palloc", "pfree"}


def test_an_app_folder_builds_the_same_image_wherever_it_lies(tmp_path, monkeypatch):
    monkeypatch.setenv("EMU_BUILD_DIR", str(tmp_path / "images"))
    images = []
    for where in ("a", "b/c"):
        shutil.copytree(MYAPP, tmp_path / where / "myapp")
        proc = _toolchain("build", str(tmp_path / where / "myapp"), "--config", "region")
        assert proc.returncode == 0, proc.stderr
        images.append(Path(proc.stdout.strip()))
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in images}
    assert len(digests) == 1, images
    # Editing the app makes another image.
    main = tmp_path / "a" / "myapp" / "main.c"
    main.write_text(main.read_text().replace("#define ROUNDS 20", "#define ROUNDS 21"))
    again = _toolchain("build", str(main.parent), "--config", "region")
    assert Path(again.stdout.strip()) != images[0]


def test_a_unikraft_library_is_a_configuration_of_its_name(tmp_path):
    proc = cli(
        "run", "--app", str(MYAPP), "--lib", str(FIRSTFIT), "--config", "ukallocfirstfit",
        "--harts", "4", "--check", "--check-every", "200000", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "myapp: ukallocfirstfit, 4 harts" in proc.stdout and "myapp: PASS" in proc.stdout
    oracle = _summary(tmp_path / "r")["oracle"]
    assert oracle["walker"] == "ukallocfirstfit" and oracle["walks"] > 1, oracle
    assert oracle["conservation"] == "ok", oracle


def test_the_frontend_runs_over_a_unikraft_library(tmp_path):
    proc = cli(
        "run", "--app", "stress", "--lib", str(FIRSTFIT), "--config", "mimalloc+ukallocfirstfit",
        "--harts", "2", "--check", "-D", "STRESS_STEPS=300", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _summary(tmp_path / "r")["oracle"]["walker"] == "mimalloc+ukallocfirstfit"


def test_config_uk_defaults_become_macros_and_d_overrides_them():
    c = catalog.config("ukallocfirstfit", [FIRSTFIT])
    defines = catalog.image_defines(c)
    assert defines["CONFIG_LIBUKALLOCFIRSTFIT"] == "1"
    assert defines["CONFIG_LIBUKALLOCFIRSTFIT_LOCK"] == "1"
    assert defines["UK_ALLOC_BACKEND_INIT"] == "uk_allocfirstfit_init"
    assert [lib.name for lib in catalog.image_libraries(c)][-1] == "ukallocfirstfit"


def _without_merge(tmp_path: Path) -> Path:
    """ukallocfirstfit with its merge of neighbouring runs taken out: every page still comes
    back, but two free runs may touch."""
    broken = tmp_path / "ukallocfirstfit"
    shutil.copytree(FIRSTFIT, broken)
    source = broken / "firstfit.c"
    text = source.read_text()
    merge = "\tif (run->next && (__uptr)run->next == end) {"
    assert merge in text
    source.write_text(text.replace(merge, "\tif (0) {"))
    return broken


def test_the_heap_walker_plugin_catches_a_broken_allocator(tmp_path):
    """The plugin says which runs touch and the oracle stops the run (68)."""
    broken = _without_merge(tmp_path)
    proc = cli(
        "run", "--app", str(MYAPP), "--lib", str(broken), "--config", "ukallocfirstfit",
        "--check", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert proc.returncode == Status.VIOLATION, proc.stderr
    violation = _summary(tmp_path / "r")["violation"]
    assert violation["rule"] == "heap"
    assert any("touch but were not merged" in e for e in violation["heap_walk"]), violation


def test_explore_hands_the_plugin_to_its_workers(tmp_path):
    broken = _without_merge(tmp_path)
    proc = cli(
        "explore", "--app", str(MYAPP), "--lib", str(broken), "--config", "ukallocfirstfit",
        "-D", "ROUNDS=2", "--harts", "2", "--seeds", "2", "--jobs", "2",
        "--out", str(tmp_path / "x"),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "violation: heap:" in proc.stdout and "not merged" in proc.stdout, proc.stdout


def test_a_plugin_that_does_not_load_is_one_line(tmp_path):
    lib = tmp_path / "ukallocfirstfit"
    shutil.copytree(FIRSTFIT, lib)
    (lib / "heapwalk.py").write_text("def walker(ctx):\n    return (\n")
    err = _bad_input("--app", str(MYAPP), "--lib", str(lib), "--config", "ukallocfirstfit",
                     "--check")  # fmt: skip
    assert err.count("\n") == 1 and f"heap walker plugin {lib / 'heapwalk.py'}" in err, err


def test_a_lib_toml_library_of_ones_own(tmp_path):
    """This project's own manifest works from a path too; --config mine and mimalloc+mine."""
    mine = tmp_path / "mine"
    shutil.copytree(FIRSTFIT, mine, ignore=shutil.ignore_patterns("*.uk", "heapwalk.py"))
    (mine / "lib.toml").write_text(
        'description = "first-fit pages, as a lib.toml library"\nkind = "backend"\n'
        'requires = ["ukcore"]\ninit = "uk_allocfirstfit_init"\ncaps = ["frees-pages"]\n'
    )
    (mine / "name.c").write_text('const char uk_allocfirstfit_name[] = "mine";\n')
    for config in ("mine", "mimalloc+mine"):
        proc = cli(
            "run", "--app", str(MYAPP), "--lib", str(mine), "--config", config, "--harts", "2",
            "--check", "-D", "CONFIG_LIBUKALLOCFIRSTFIT_LOCK=1", "--out", str(tmp_path / config),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "myapp: mine, 2 harts" in proc.stdout


def _unikraft_copy(tmp_path: Path) -> Path:
    lib = tmp_path / "ukallocfirstfit"
    shutil.copytree(FIRSTFIT, lib)
    return lib


def _bad_input(*args: str) -> str:
    proc = cli("run", *args)
    assert proc.returncode == Status.BAD_INPUT, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_an_app_folder_without_app_toml(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.c").write_text("int app_main(unsigned h, unsigned n) { return 0; }")
    err = _bad_input("--app", str(tmp_path / "app"))
    assert err.count("\n") == 1 and "has no app.toml" in err, err


def test_a_folder_that_is_no_library(tmp_path):
    err = _bad_input("--app", str(MYAPP), "--lib", str(tmp_path), "--config", "region")
    assert err.count("\n") == 1, err
    assert "neither a lib.toml" in err and "nor a Makefile.uk" in err, err


def test_an_allocator_that_does_not_provide_the_interface(tmp_path):
    lib = _unikraft_copy(tmp_path)
    source = lib / "firstfit.c"
    source.write_text(source.read_text().replace("uk_allocfirstfit_init(", "ff_setup("))
    err = _bad_input("--app", str(MYAPP), "--lib", str(lib), "--config", "ukallocfirstfit")
    assert err.count("\n") == 1, err
    assert "does not provide the allocator interface" in err and "uk_allocfirstfit_init" in err


def test_a_build_error_names_the_file_and_line(tmp_path):
    lib = _unikraft_copy(tmp_path)
    source = lib / "firstfit.c"
    lines = source.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "ff->nr_free_pages -= num_pages;" in line)
    lines[at] = lines[at].replace("num_pages;", "num_pagez;")
    source.write_text("\n".join(lines) + "\n")
    err = _bad_input("--app", str(MYAPP), "--lib", str(lib), "--config", "ukallocfirstfit")
    first = err.splitlines()[0]
    assert f"{source}:{at + 1}:" in first and "num_pagez" in first, first


def test_a_unikraft_header_this_runtime_lacks_is_named(tmp_path):
    lib = _unikraft_copy(tmp_path)
    source = lib / "firstfit.c"
    source.write_text("#include <uk/list.h>\n" + source.read_text())
    err = _bad_input("--app", str(MYAPP), "--lib", str(lib), "--config", "ukallocfirstfit")
    first = err.splitlines()[0]
    assert f"{source}:1:" in first, first
    assert "the Unikraft header <uk/list.h> is not provided by this runtime" in first, first
    assert "<uk/alloc.h>" in first  # what it does provide


def test_a_library_named_like_a_bundled_one(tmp_path):
    lib = tmp_path / "region"
    shutil.copytree(ROOT / "guest" / "lib" / "ukallocregion", lib)
    (lib / "include" / "alloc" / "region.h").rename(lib / "include" / "alloc" / "mine.h")
    err = _bad_input("--lib", str(ROOT / "guest" / "lib" / "ukallocbbuddy"))
    assert "has the name of a bundled library" in err, err


def test_images_go_to_the_user_cache_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EMU_BUILD_DIR"}
    env["EMU_CACHE_DIR"] = str(tmp_path / "cache")
    proc = _toolchain("build", "hello", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    image = Path(proc.stdout.strip())
    assert image.is_relative_to(tmp_path / "cache" / "images") and image.is_file(), image


@pytest.mark.parametrize(
    ("env", "expect"),
    [
        ({"EMU_CACHE_DIR": "/x/y"}, "/x/y"),
        ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/smp-alloc-emulator"),
        ({"XDG_CACHE_HOME": "relative"}, "HOME/.cache/smp-alloc-emulator"),
    ],
)
def test_the_user_cache_directory(monkeypatch, tmp_path, env, expect):
    from toolchain.cache import user_cache_dir

    monkeypatch.delenv("EMU_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert user_cache_dir("images") == Path(expect.replace("HOME", str(tmp_path))) / "images"
