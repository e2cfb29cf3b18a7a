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
    assert "ukallocbbuddy    backend   binary buddy" in out  # the libraries, with their kinds
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


# ---- libraries (guest/lib/NAME/lib.toml) and configurations that name them ----


@pytest.fixture
def guest_copy(tmp_path, monkeypatch):
    """A copy of the guest tree that a test may edit; the catalog reads it instead."""
    import shutil

    from toolchain import catalog

    root = tmp_path / "guest"
    shutil.copytree(catalog.guest_root(), root)
    monkeypatch.setattr(catalog, "guest_root", lambda: root)
    return root


def test_a_configuration_links_what_its_libraries_require():
    from toolchain import catalog

    def linked(name):
        return [lib.name for lib in catalog.image_libraries(catalog.config(name))]

    assert linked("default") == ["rt"]  # the runtime is in every image
    assert linked("bbuddy-spin") == ["rt", "ukalloc", "ukallocifpages", "ukallocbbuddy"]
    assert linked("region") == ["rt", "ukalloc", "ukallocregion"]  # no ifpages: region has its own
    assert catalog.config("mimalloc+bbuddy-unlocked+shimlock").libraries == (
        "mimalloc",
        "ukallocbbuddy",
    )
    compiled = [
        str(s.relative_to(catalog.guest_root()))
        for lib in catalog.image_libraries(catalog.config("bbuddy-spin"))
        for s in lib.compiled("bare")
    ]
    assert compiled[0] == "lib/rt/barrier.c" and "lib/rt/plat/bare/start.S" in compiled
    assert compiled[-3:] == [
        "lib/ukalloc/alloc.c",
        "lib/ukallocifpages/ifpages.c",
        "lib/ukallocbbuddy/bbuddy.c",
    ]
    assert "lib/ukallocbbuddy/lock_policy.h" not in compiled  # private: tracked, not compiled


def test_allocator_libraries_reach_the_interface_as_macros():
    from toolchain import catalog

    d = catalog.image_defines(catalog.config("mimalloc+bbuddy-lockfree"))
    assert d["UK_ALLOC_BACKEND_INIT"] == "uk_allocnbbs_init"
    assert d["UK_ALLOC_BACKEND_NAME"] == "uk_allocnbbs_name"
    assert d["UK_ALLOC_FRONTEND_INIT"] == "uk_mimalloc_init"
    assert d["UK_ALLOC_CAPS"] == "UK_ALLOC_CAP_SIZE_ALIGNED|UK_ALLOC_CAP_FREES_PAGES"
    assert d["CONFIG_LIBMIMALLOC"] == d["CONFIG_LIBMMAPSHIM"] == d["CONFIG_LIBRT"] == "1"
    region = catalog.image_defines(catalog.config("region"))
    assert region["UK_ALLOC_CAPS"] == "0" and "UK_ALLOC_FRONTEND_INIT" not in region
    plain = catalog.image_defines(catalog.config("default"))
    assert plain == {"CONFIG_LIBRT": "1"}


def test_every_cap_is_defined_by_the_interface():
    import re

    from toolchain import catalog

    header = (catalog.libraries()["ukalloc"].directory / "include/alloc/alloc.h").read_text()
    defined = set(re.findall(r"#define UK_ALLOC_CAP_(\w+) ", header))
    assert {c.upper().replace("-", "_") for c in catalog.ALLOC_CAPS} == defined


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_configuration_naming_an_unknown_library_is_one_clear_error(guest_copy):
    from toolchain import catalog

    configs = guest_copy / "configs.toml"
    configs.write_text(configs.read_text().replace('["ukallocregion"]', '["ukallocregoin"]'))
    with pytest.raises(catalog.CatalogError) as e:
        catalog.config("region")
    message = str(e.value)
    assert "[region] names library 'ukallocregoin', which does not exist" in message
    assert "libraries: allocbench, alloctest, mimalloc" in message and "\n" not in message


def test_a_configuration_listing_files_says_it_should_name_libraries(guest_copy):
    from toolchain import catalog

    configs = guest_copy / "configs.toml"
    configs.write_text(configs.read_text() + '\n[old]\nsources = ["alloc/alloc.c"]\n')
    with pytest.raises(catalog.CatalogError, match="names libraries, not files"):
        catalog.configs()


@pytest.mark.parametrize(
    "library, manifest, says",
    [
        ("ukallocregion", None, "has no lib.toml: every folder under guest/lib is a library"),
        ("ukallocregion", 'description = "x"\nkind = "allocator"\n', "kind is 'allocator'"),
        ("ukallocregion", 'description = "x"\nkind = "backend"\n', "names its init function"),
        (
            "ukallocregion",
            'description = "x"\nkind = "backend"\ninit = "uk_allocregion_init"\nrequire = []\n',
            "unknown field 'require'",
        ),
        (
            "ukallocregion",
            'description = "x"\nkind = "backend"\ninit = "uk_allocregion_init"\ncaps = ["fast"]\n',
            "unknown cap 'fast'; caps: size-aligned, frees-pages",
        ),
        ("ukallocregion", 'description = "x"\nkind = "backend"\ninit = "go"\n', "ending in _init"),
        ("alloctest", 'description = "x"\nkind = "support"\ninit = "a_init"\n', "only a backend"),
        ("alloctest", 'description = "x"\nkind = "support"\ncaps = ["frees-pages"]\n', "caps"),
        ("alloctest", 'kind = "support"\n', "description must be a sentence"),
        ("alloctest", 'description = "x"\nkind = "support"\nsources = ["nope.c"]\n', "nope.c"),
        ("alloctest", 'description = "x"\nkind = "support"\nrequires = ["libc"]\n', "'libc'"),
        ("alloctest", 'description = "x"\nkind = "support\n', "lib.toml"),  # TOML syntax
    ],
)
def test_a_bad_library_folder_is_one_clear_error(guest_copy, library, manifest, says):
    from toolchain import catalog

    path = guest_copy / "lib" / library / "lib.toml"
    if manifest is None:
        path.unlink()
    else:
        path.write_text(manifest)
    with pytest.raises(catalog.CatalogError) as e:
        catalog.config("bbuddy-spin")
    assert says in str(e.value) and "\n" not in str(e.value)
    assert str(path.parent) in str(e.value)


def test_requirements_in_a_circle_are_an_error(guest_copy):
    from toolchain import catalog

    manifest = guest_copy / "lib" / "ukalloc" / "lib.toml"
    manifest.write_text(manifest.read_text().replace('["rt"]', '["rt", "ukallocbbuddy"]'))
    with pytest.raises(
        catalog.CatalogError, match="in a circle: ukallocbbuddy -> ukalloc -> ukallocbbuddy"
    ):
        catalog.image_libraries(catalog.config("bbuddy-spin"))


def test_an_image_has_one_backend_and_a_frontend_needs_one(guest_copy):
    from toolchain import catalog

    configs = guest_copy / "configs.toml"
    text = configs.read_text()
    configs.write_text(
        text
        + '\n[two]\nlibraries = ["ukallocbbuddy", "ukallocregion"]\n'
        + '\n[alone]\nkind = "base"\nlibraries = ["mimalloc"]\n'
    )
    with pytest.raises(catalog.CatalogError, match=r"links 2 backends \(ukallocbbuddy, ukalloc"):
        catalog.image_libraries(catalog.config("two"))
    with pytest.raises(catalog.CatalogError, match="a frontend but no backend"):
        catalog.image_libraries(catalog.config("alone"))


def test_two_libraries_with_the_same_public_header_are_an_error(guest_copy):
    from toolchain import catalog

    _write(guest_copy / "lib" / "alloctest" / "include" / "alloc" / "alloc.h", "/* mine */\n")
    with pytest.raises(
        catalog.CatalogError, match=r"alloctest and ukalloc both have include/alloc/alloc\.h"
    ):
        catalog.libraries()


def test_an_out_of_tree_backend_plugs_in_by_its_manifest_alone(guest_copy, tmp_path, monkeypatch):
    """A new backend folder (region's code under other names) and a configuration naming it: no
    file of the interface, the frontend or the mmap shim changes, and images with it, alone and
    under the frontend, build and pass their tests."""
    from conftest import console_lines, run_image

    from toolchain import catalog

    monkeypatch.setenv("EMU_BUILD_DIR", str(tmp_path / "build"))
    mine = guest_copy / "lib" / "ukallocmine"
    code = (guest_copy / "lib" / "ukallocregion" / "region.c").read_text()
    code = code.replace("#include <alloc/region.h>\n", "").replace("uk_allocregion", "uk_allocmine")
    _write(mine / "mine.c", code)
    _write(
        mine / "lib.toml",
        'description = "region under another name"\nkind = "backend"\nrequires = ["ukalloc"]\n'
        'init = "uk_allocmine_init"\ncaps = []\n',
    )
    configs = guest_copy / "configs.toml"
    configs.write_text(configs.read_text() + '\n[mine]\nlibraries = ["ukallocmine"]\n')
    assert "mimalloc+mine" in catalog.configs()  # every backend is a provider for the frontend
    d = catalog.image_defines(catalog.config("mimalloc+mine"))
    assert (d["UK_ALLOC_BACKEND_INIT"], d["UK_ALLOC_CAPS"]) == ("uk_allocmine_init", "0")
    tests = run_image(build("alloc-tests", "mine", {"ALLOC_STRESS_ITERS": "5"}), harts=2)
    assert tests.result.exit_code == 0 and "alloc-tests: region, 2 harts" in tests.console.decode()
    api = run_image(build("malloc-api", "mimalloc+mine"), harts=2)
    assert api.result.exit_code == 0, console_lines(api)[-3:]


def test_the_key_follows_the_libraries_an_image_links(guest_copy):
    """A source of a linked library changes the key (a private header and the manifest too);
    a source of a library the image does not link does not."""
    lib = guest_copy / "lib"

    def touch(path):
        path.write_text(path.read_text() + "\n/* changed */\n")

    key = image_key("alloc-tests", "bbuddy-spin")
    touch(lib / "ukallocregion" / "region.c")  # not linked by bbuddy-spin
    touch(lib / "mimalloc" / "mimalloc.c")
    touch(lib / "mmapshim" / "mmap_shim.c")
    assert image_key("alloc-tests", "bbuddy-spin") == key
    assert image_key("alloc-tests", "region") != image_key("alloc-tests", "bbuddy-spin")
    for changed in [
        lib / "ukallocbbuddy" / "bbuddy.c",
        lib / "ukallocbbuddy" / "lock_policy.h",  # private header
        lib / "ukallocifpages" / "ifpages.c",  # required by ukallocbbuddy
        lib / "ukalloc" / "alloc.c",
        lib / "rt" / "spinlock.c",
    ]:
        touch(changed)
        assert image_key("alloc-tests", "bbuddy-spin") != key, changed
        key = image_key("alloc-tests", "bbuddy-spin")
    manifest = lib / "ukallocbbuddy" / "lib.toml"
    manifest.write_text(manifest.read_text().replace("none, spin", "none or spin"))
    assert image_key("alloc-tests", "bbuddy-spin") != key


def test_the_firmware_picks_the_platform_layer_and_the_link_address():
    from elftools.elf.elffile import ELFFile

    from guest.contract import C
    from toolchain import catalog

    def entry(path):
        with path.open("rb") as f:
            return ELFFile(f)["e_entry"]

    bare, sbi = build("hello"), build("hello", firmware="opensbi")
    assert (entry(bare), entry(sbi)) == (C.RAM_BASE, C.KERNEL_BASE)
    assert image_key("hello") != image_key("hello", firmware="opensbi") and ".opensbi." in sbi.name
    rt = catalog.libraries()["rt"]

    def compiled(platform):
        return [str(p.relative_to(rt.directory)) for p in rt.compiled(platform)]

    assert "plat/sbi/sbi.c" in compiled("sbi") and "plat/bare/start.S" in compiled("bare")
    assert not [p for p in compiled("bare") if "plat/sbi" in p]
    # A platform file stands where a shared file of its name would: the bare link order is the
    # order the runtime had before it had platforms.
    names = [p.rsplit("/", 1)[-1] for p in compiled("bare")]
    assert names == sorted(names) and names.index("boot.c") < names.index("boot_main.c")
    with pytest.raises(catalog.CatalogError, match="no firmware named 'uboot'; --firmware takes"):
        catalog.firmware("uboot")


def test_a_platform_file_rebuilds_only_its_own_platforms_images(guest_copy):
    before = {fw: image_key("hello", firmware=fw) for fw in ("none", "opensbi")}
    console = guest_copy / "lib" / "rt" / "plat" / "sbi" / "console.c"
    console.write_text(console.read_text() + "\n/* changed */\n")
    after = {fw: image_key("hello", firmware=fw) for fw in ("none", "opensbi")}
    assert after["none"] == before["none"] and after["opensbi"] != before["opensbi"]


@pytest.mark.parametrize(
    "change, says",
    [
        ("xen/", "unknown platform 'xen'"),
        ("-sbi", "no folder for platform 'sbi'"),
        ("notes.txt", "stray file 'notes.txt'"),
    ],
)
def test_a_bad_platform_layer_is_one_clear_error(guest_copy, change, says):
    import shutil

    from toolchain import catalog

    plat = guest_copy / "lib" / "rt" / "plat"
    if change.endswith("/"):
        (plat / change).mkdir()
    elif change.startswith("-"):
        shutil.rmtree(plat / change[1:])
    else:
        (plat / change).write_text("x\n")
    with pytest.raises(catalog.CatalogError) as e:
        catalog.libraries()
    assert says in str(e.value) and str(plat) in str(e.value) and "\n" not in str(e.value)
