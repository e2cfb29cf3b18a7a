"""The mutation tester (emulator/explore/mutate.py, `python -m emulator mutate`): it finds the
atomic sites of a configuration, writes each mutant into a copy of the sources only, reports a
killable mutant killed, an equivalent one surviving, code a configuration leaves out as not
built, and gives the same table for the same seeds."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import cli

from emulator.explore import mutate
from emulator.machine.errors import BadInput
from emulator.session.pool import ProcessRunner
from guest.contract import C
from toolchain import catalog

FIRSTFIT = str(catalog.guest_root().parent / "examples" / "ukallocfirstfit")


def _site(config: str, file_line: str, operator: str, libs=()) -> mutate.Site:
    sites = mutate.find_sites(config, libs)
    found = [s for s in sites if s.name == f"{file_line} {operator}"]
    assert len(found) == 1, [s.name for s in sites]
    return found[0]


def test_sites_are_the_configurations_atomics_not_the_runtimes():
    sites = mutate.find_sites("bbuddy-spin")
    names = [s.name for s in sites]
    assert "lib/ukallocbbuddy/lock_policy.h:65 unlock-nothing" in names
    assert "lib/ukallocbbuddy/lock_policy.h:55 lock-nothing" in names
    assert not any(s.file.startswith("lib/rt/") for s in sites)
    assert not any("nbbs" in s.file for s in sites)  # another configuration's library
    lockfree = {s.operator for s in mutate.find_sites("bbuddy-lockfree")}
    assert {"cas-plain", "rmw-plain"} <= lockfree
    frontend = {s.operator for s in mutate.find_sites("mimalloc+bbuddy-spin")}
    assert {"xchg-plain", "amo-plain"} <= frontend  # the frontend's assembly fast path too
    assert sites == sorted(sites, key=lambda s: (s.file, s.offset))


def _runtime_site(file: str, operator: str) -> mutate.Site:
    found = [
        s
        for s in mutate.find_sites("default", runtime=True)
        if (s.file, s.operator) == (file, operator)
    ]
    assert len(found) == 1, found
    return found[0]


def test_the_runtimes_sites_only_when_asked():
    assert mutate.find_sites("default") == []  # the default configuration is the runtime alone
    runtime = mutate.find_sites("default", runtime=True)
    where = {(s.file, s.operator) for s in runtime}
    assert {
        ("lib/rt/ipi_wait.c", "xchg-plain"),  # take_pending_flag
        ("lib/rt/spinlock.c", "xchg-plain"),
        ("lib/rt/ticketlock.c", "rmw-plain"),
        ("lib/rt/barrier.c", "rmw-plain"),
        ("lib/rt/console_lock.c", "lock-nothing"),
        ("lib/rt/console_lock.c", "unlock-nothing"),
    } <= where
    # spin_lock's own definition and declaration are not calls of it
    assert not [s for s in runtime if s.file in ("lib/rt/spinlock.c", "lib/rt/include/rt/lock.h")
                and s.operator in ("lock-nothing", "unlock-nothing")]  # fmt: skip
    allocator = set(mutate.find_sites("bbuddy-spin"))
    both = set(mutate.find_sites("bbuddy-spin", runtime=True))
    assert allocator < both and both - allocator == set(runtime)


def test_a_mutant_is_written_into_the_copy_only(tmp_path):
    site = _site("bbuddy-lockfree", "lib/ukallocnbbs/nbbs.c:98", "cas-plain")
    root = mutate.copy_sources(tmp_path)
    mutate.apply(site, root)
    text = (root / site.file).read_text()
    line = text.split("#line 1\n", 1)[1].splitlines()[site.line - 1]
    assert "MUTANT_CAS(" in line and "__atomic_compare_exchange_n" not in line
    original = (catalog.guest_root() / site.file).read_text()
    assert "MUTANT_CAS" not in original  # the checkout is untouched
    asm = _site("mimalloc+bbuddy-spin", "lib/mimalloc/mimalloc_fast.S:34", "amo-plain")
    mutate.apply(asm, root)
    line = (root / asm.file).read_text().splitlines()[asm.line - 1]
    assert "lw t6, 0(a1); addw t6, t6, a4; sw t6, 0(a1)" in line


def test_a_users_library_has_its_sites_and_its_mutants_go_into_a_copy(tmp_path):
    names = [s.name for s in mutate.find_sites("ukallocfirstfit", [FIRSTFIT])]
    # Unikraft's spelling of the lock calls, in the folder given with --lib
    assert "ext/ukallocfirstfit/firstfit.c:40 lock-nothing" in names
    assert "ext/ukallocfirstfit/firstfit.c:41 unlock-nothing" in names
    site = _site("ukallocfirstfit", "ext/ukallocfirstfit/firstfit.c:40", "lock-nothing", [FIRSTFIT])
    root = mutate.copy_sources(tmp_path, [FIRSTFIT])
    mutate.apply(site, root)
    copy = (tmp_path / "ext" / "ukallocfirstfit" / "firstfit.c").read_text()
    assert "MUTANT_NOTHING(&(ff)->lock)" in copy
    assert "MUTANT_NOTHING" not in (Path(FIRSTFIT) / "firstfit.c").read_text()


def test_a_users_lock_left_out_is_killed(tmp_path):
    plan = mutate.Plan("ukallocfirstfit", ["alloc-tests"], seeds=0, libs=(FIRSTFIT,))
    t = mutate.Tester(plan, tmp_path, jobs=1, runner=ProcessRunner(1))
    root = mutate.copy_sources(tmp_path, plan.libs)
    t.baseline(root)
    ff = "ext/ukallocfirstfit/firstfit.c:41"
    site = _site("ukallocfirstfit", ff, "unlock-nothing", plan.libs)
    v = t.test(site, root)
    assert (v.status, v.killed_by, v.seeds_to_kill) == ("killed", "run alloc-tests", 0), v


def test_page_race_kills_the_lock_free_buddys_claims_made_plain(tmp_path):
    """nbbs.c's CAS helper made a load, a compare and a store: the harts' claims and climbs
    race only where they meet on the same nodes, which alloc-tests never makes them do (issue
    21); page-race does, and random at quantum 5 breaks it within a few seeds."""
    plan = mutate.Plan("bbuddy-lockfree", ["page-race"], seeds=4, policies=(("random", 5, ""),))
    t = mutate.Tester(plan, tmp_path, jobs=2, runner=ProcessRunner(2))
    root = mutate.copy_sources(tmp_path)
    t.baseline(root)
    v = t.test(_site("bbuddy-lockfree", "lib/ukallocnbbs/nbbs.c:98", "cas-plain"), root)
    assert (v.status, v.killed_by) == ("killed", "explore page-race random:5"), v


def test_the_ipi_storm_kills_the_pending_flag_taken_by_a_load_and_a_store(tmp_path):
    """Issue 21's runtime survivor: ipi_take's exchange of the pending flag for 0 made a load and
    a store. An IPI the trap path takes between the two (ipi_take runs with interrupts on) sets
    the flag, and the store wipes it: the wake-up is lost. wfi-ipi's storm sends IPIs around a
    ring while every hart polls ipi_take, and says so within a bounded number of tries; random
    at quantum 5 lands a turn boundary in the window at once."""
    plan = mutate.Plan("default", ["wfi-ipi"], seeds=2, policies=(("random", 5, ""),), plain=False)
    t = mutate.Tester(plan, tmp_path, jobs=2, runner=ProcessRunner(2))
    root = mutate.copy_sources(tmp_path)
    t.baseline(root)
    v = t.test(_runtime_site("lib/rt/ipi_wait.c", "xchg-plain"), root)
    assert (v.status, v.killed_by) == ("killed", "explore wfi-ipi random:5"), v
    assert "lost" in v.message, v.message


def test_stats_race_kills_the_statistics_counters_made_plain(tmp_path):
    """Issue 21's ukalloc survivors: nb_enomem's fetch-and-add as a load and a store (no test
    ran out of memory on two harts at once) dies under preempt-atomics (and random) at once;
    the running minimum's CAS as a load, a compare and a store (nothing checked the
    minimum exactly) under random where the harts' pallocs are not serialized by one lock."""
    preempt = (("preempt-atomics", 20, ""),)
    plan = mutate.Plan("bbuddy-spin", ["stats-race"], seeds=2, policies=preempt)
    t = mutate.Tester(plan, tmp_path / "spin", jobs=2, runner=ProcessRunner(2))
    t.baseline(mutate.copy_sources(tmp_path / "spin"))
    site = _site("bbuddy-spin", "lib/ukalloc/alloc.c:96", "rmw-plain")
    v = t.test(site, tmp_path / "spin/guest")
    assert (v.status, v.killed_by) == ("killed", "explore stats-race preempt-atomics:20"), v
    assert v.message.endswith("(2 passed, 1 failed)"), v.message  # one case caught it
    assert t.passed == {(v.killed_by, v.seeds_to_kill - 1)}  # the original passes that seed
    # the CAS's window moves with every instruction before it: 8 seeds (it took 4 last measured)
    plan = mutate.Plan("bbuddy-lockfree", ["stats-race"], seeds=8, policies=(("random", 5, ""),))
    t = mutate.Tester(plan, tmp_path / "free", jobs=2, runner=ProcessRunner(2))
    t.baseline(mutate.copy_sources(tmp_path / "free"))
    site = _site("bbuddy-lockfree", "lib/ukalloc/alloc.c:68", "cas-plain")
    v = t.test(site, tmp_path / "free/guest")
    assert (v.status, v.killed_by) == ("killed", "explore stats-race random:5"), v
    assert re.search(r"\(\d passed, 1 failed\)$", v.message), v.message


def test_a_kill_stands_only_where_the_original_passes(tmp_path):
    """The original is run on the seed that killed a mutant (not on every seed up front): the
    unlocked buddy fails its own explorations on 4 harts, so a mutant's failure there proves
    nothing and is refused."""
    random = (("random", 5, ""),)
    plan = mutate.Plan("bbuddy-unlocked", ["alloc-tests"], seeds=2, policies=random, plain=False)
    t = mutate.Tester(plan, tmp_path, jobs=2, runner=ProcessRunner(2))
    root = mutate.copy_sources(tmp_path)
    t.baseline(root)
    site = _site("bbuddy-unlocked", "lib/ukalloc/alloc.c:61", "cas-plain")
    with pytest.raises(BadInput, match=r"'bbuddy-unlocked' fails its own tests \(explore alloc"):
        t.test(site, root)


def test_the_default_policies_are_tried_random_first():
    """docs/mutation.md's policy table: random:5 kills the most within a few seeds,
    preempt-atomics much of what it misses, pct what needs a hart held off long; each app is
    explored under one policy before the next policy starts."""
    plan = mutate.Plan("bbuddy-spin", ["alloc-tests", "page-race"], seeds=1)
    steps = [step for step, _, _ in plan.steps()]
    assert steps == [
        "run alloc-tests", "run page-race",
        "explore alloc-tests random:5", "explore page-race random:5",
        "explore alloc-tests preempt-atomics:20", "explore page-race preempt-atomics:20",
        "explore alloc-tests pct:10:sync", "explore page-race pct:10:sync",
    ]  # fmt: skip
    opts = [o for step, o, _ in plan.steps() if "preempt" in step]
    assert {(o.schedule, o.quantum) for o in opts} == {("preempt-atomics", 20)}


def test_equivalence_marks_are_comments_on_the_line_or_alone_above():
    text = "\n".join([
        "/* mutate: equivalent: alone above, covers the next line */",  # 1
        "x = __atomic_fetch_add(p, 1, 0);",                              # 2
        "y = __atomic_exchange_n(p, 1, 0); // mutate: equivalent xchg-plain: its own line",  # 3
        "z = __atomic_fetch_or(p, 1, 0);",                               # 4: not covered by 3
        'puts("mutate: equivalent: in a string, not a comment");',      # 5
    ])  # fmt: skip
    marks = mutate._equivalence_marks(text, mutate._code_only(text), "f.c")
    assert marks == {
        1: [("", "alone above, covers the next line")],
        2: [("", "alone above, covers the next line")],
        3: [("xchg-plain", "its own line")],
    }
    asm = "# mutate: equivalent amo-plain: a counter no one reads\namoadd.w zero, a4, (a1)"
    assert mutate._equivalence_marks(asm, asm, "f.S", hash_comments=True)[2] == [
        ("amo-plain", "a counter no one reads")
    ]
    for bad, fragment in (
        ("/* mutate: equivalent cas-plian: typo */", "names no operator"),
        ("/* mutate: equivalent: */", "wants a reason"),
    ):
        with pytest.raises(BadInput, match=fragment):
            mutate._equivalence_marks(bad, mutate._code_only(bad), "f.c")


def test_a_site_marked_equivalent_is_listed_with_its_reason_never_built_nor_counted(tmp_path):
    lib = tmp_path / "ukallocfirstfit"
    shutil.copytree(FIRSTFIT, lib)
    source = lib / "firstfit.c"
    lines = source.read_text().split("\n")
    assert "uk_spin_lock(" in lines[39]
    lines[39] += " /* mutate: equivalent lock-nothing: made up for the test */"
    source.write_text("\n".join(lines))
    sites = {s.name: s for s in mutate.find_sites("ukallocfirstfit", [str(lib)])}
    lock = sites["ext/ukallocfirstfit/firstfit.c:40 lock-nothing"]
    assert lock.equivalent == "made up for the test"
    assert sites["ext/ukallocfirstfit/firstfit.c:41 unlock-nothing"].equivalent == ""

    plan = mutate.Plan("ukallocfirstfit", ["alloc-tests"], seeds=0, libs=(str(lib),))
    t = mutate.Tester(plan, tmp_path / "work", jobs=1, runner=ProcessRunner(1))

    def no_build(root, app):
        raise AssertionError("an equivalent site was built")

    t._build = no_build  # type: ignore[method-assign]
    v = t.test(lock, tmp_path / "work" / "guest")
    assert (v.status, v.message, v.seconds) == ("equivalent", "made up for the test", 0.0)
    assert mutate.score([v]) == (0, 0)
    assert "| equivalent: made up for the test |" in mutate.table([v])
    assert "0 of 0 killed; 1 equivalent, not run" in mutate.summary(plan, [v])


def test_the_bundled_equivalent_sites_are_marked_and_mutate_skips_them(tmp_path):
    """region's addmem at the end, the shim's munmap claim and the console lock's two
    (docs/mutation.md, "Marked equivalent"): listed as equivalent with the source's reason;
    mutate builds no mutant of them."""
    region = [s for s in mutate.find_sites("region") if s.equivalent]
    assert [s.name for s in region] == ["lib/ukallocregion/region.c:156 cas-plain"]
    shim = [s for s in mutate.find_sites("mimalloc+bbuddy-spin") if s.equivalent]
    assert [s.name for s in shim] == ["lib/mmapshim/mmap_shim.c:85 cas-plain"]
    # the console lock's two: a UART that keeps lines whole, a write only as the run ends
    runtime = [s for s in mutate.find_sites("default", runtime=True) if s.equivalent]
    assert [s.name for s in runtime] == [
        "lib/rt/console_lock.c:12 lock-nothing",
        "lib/rt/console_lock.c:26 unlock-nothing",
    ]
    out = tmp_path / "run"
    proc = cli(
        "mutate", "--config", "region", "--sites", "region.c", "--app", "alloc-tests",
        "--seeds", "0", "--jobs", "1", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "1 of 1 killed; 1 equivalent, not run" in proc.stdout
    assert "region.c:156` `__atomic_compare_exchange_n(` | cas-plain | equivalent: " in proc.stdout
    # the original's image and region.c:49's mutant: none of region.c:156
    assert len(list(out.rglob("alloc-tests.region.*.elf"))) == 2


def test_free_race_kills_the_frontends_take_all_made_plain(tmp_path):
    """mimalloc.c's take-all of a page's thread_free list made a load and a store: a remote
    push between the two is lost while its `used` decrement is not, and the page heals when it
    empties (issue 21's third survivor: stress and prodcons did not kill it within 20 seeds).
    free-race has every hart free into the others' full pages while they malloc, and checks the
    heaps before any page empties: random at quantum 5 kills it within a few seeds."""
    plan = mutate.Plan(
        "mimalloc+bbuddy-spin", ["free-race"], seeds=4, policies=(("random", 5, ""),), plain=False
    )
    t = mutate.Tester(plan, tmp_path, jobs=2, runner=ProcessRunner(2))
    root = mutate.copy_sources(tmp_path)
    t.baseline(root)
    v = t.test(_site("mimalloc+bbuddy-spin", "lib/mimalloc/mimalloc.c:225", "xchg-plain"), root)
    assert (v.status, v.killed_by) == ("killed", "explore free-race random:5"), v
    assert "!= capacity" in v.message, v.message  # a page's blocks: used + lists, one short


def test_policies_are_parsed_and_bad_ones_said_in_one_line():
    assert mutate.parse_policy("pct:10:sync") == ("pct", 10, "sync")
    assert mutate.parse_policy("random:5") == ("random", 5, "")
    for bad in ("random", "nosuch:5", "random:x", "random:5:sync", "pct:0"):
        with pytest.raises(BadInput):
            mutate.parse_policy(bad)


@pytest.fixture(scope="module")
def tester(tmp_path_factory):
    work = tmp_path_factory.mktemp("mutants")
    plan = mutate.Plan("bbuddy-spin", ["alloc-tests"], harts=4, seeds=2)
    t = mutate.Tester(plan, work, jobs=2, runner=ProcessRunner(2))
    root = mutate.copy_sources(work)
    t.baseline(root)
    return t, root


def test_a_lock_never_released_is_killed_by_the_first_run(tester):
    t, root = tester
    v = t.test(_site("bbuddy-spin", "lib/ukallocbbuddy/lock_policy.h:65", "unlock-nothing"), root)
    assert (v.status, v.killed_by, v.seeds_to_kill) == ("killed", "run alloc-tests", 0), v
    assert "budget" in v.message or "deadlock" in v.message, v.message


def test_code_the_configuration_leaves_out_is_not_built_and_not_counted(tester):
    t, root = tester
    v = t.test(_site("bbuddy-spin", "lib/ukallocbbuddy/lock_policy.h:67", "unlock-nothing"), root)
    assert v.status == "not built" and "original" in v.message, v  # the ticket lock's branch
    # no allocator here has a fence (the runtime's are not mutated): a made-up site shows it
    fence = mutate.Site("lib/ukalloc/alloc.c", 1, 0, "fence-nothing", "__atomic_thread_fence(")
    assert t.test(fence, root).status == "not counted"
    assert mutate.score([v]) == (0, 0)


@pytest.mark.slow
def test_a_missing_lock_is_killed_the_same_way_every_time(tester):
    t, root = tester
    site = _site("bbuddy-spin", "lib/ukallocbbuddy/lock_policy.h:55", "lock-nothing")
    first, again = t.test(site, root), t.test(site, root)
    assert first.status == "killed", first
    assert (first.killed_by, first.seeds_to_kill, first.message) == (
        again.killed_by,
        again.seeds_to_kill,
        again.message,
    )


@pytest.mark.slow
def test_on_one_hart_a_broken_cas_is_equivalent_and_survives(tmp_path):
    """Nothing runs between the load and the store with one hart: the mutant cannot differ."""
    plan = mutate.Plan("bbuddy-lockfree", ["alloc-tests"], harts=1, seeds=2)
    t = mutate.Tester(plan, tmp_path, jobs=2, runner=ProcessRunner(2))
    root = mutate.copy_sources(tmp_path)
    t.baseline(root)
    v = t.test(_site("bbuddy-lockfree", "lib/ukallocnbbs/nbbs.c:98", "cas-plain"), root)
    assert v.status == "survived", v
    assert mutate.score([v]) == (0, 1)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--config", "nosuch"], "nosuch"),
        (["--config", "bbuddy-spin", "--sites", "nowhere"], "no atomic operation site"),
        (["--config", "bbuddy-spin", "--sites", "("], "--sites"),
        (["--config", "bbuddy-spin", "--app", "nosuch"], "nosuch"),
        (["--config", "bbuddy-spin", "--harts", "1"], "--harts"),
        (["--config", "bbuddy-spin", "--policy", "pct"], "--policy"),
        (["--config", "bbuddy-spin", "--lib", "/nonexistent/lib"], "/nonexistent/lib"),
        (["--runtime", "--sites", "nowhere"], "no atomic operation site in 'default'"),
        (["--sites", "spinlock"], "no atomic operation site in 'bbuddy-spin'"),  # rt's: asked
    ],
)
def test_bad_input_is_one_line(args, fragment, tmp_path):
    proc = cli("mutate", *args, "--out", str(tmp_path / "run"))
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
