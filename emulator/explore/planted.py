"""Planted bugs: the runs that schedule exploration must be able to break, in one table.

Each names an app, a configuration and the macros that plant the bug (guest/lib/ukalloc/README.md,
"Planted bugs"; TREIBER_POP in guest/apps/treiber). scripts/find_bugs.py measures how many seeds
each schedule needs to find each one; tests/test_planted.py asserts the budgets below.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlantedBug:
    name: str
    what: str
    app: str
    config: str
    harts: int
    defines: dict[str, str] = field(default_factory=dict)
    # seeds pct (quantum 10, unit sync) must find it within (pytest); None: pct is not
    # expected to (docs/bug-finding.md says why), random must instead
    pct_budget: int | None = 50
    random_quantum: int = 5  # the random schedule's quantum that finds it (pytest: 50 seeds)


BUGS: tuple[PlantedBug, ...] = (
    PlantedBug(
        "palloc-nolock",
        "bbuddy's palloc takes none of its locks",
        "alloc-tests",
        "bbuddy-spin",
        4,
        {"ALLOC_BUG": "palloc_nolock", "ALLOC_STRESS_ITERS": "10"},
    ),
    PlantedBug(
        "treiber-cas",
        "Treiber stack popped with compare-exchange (ABA); each hart holds 2 nodes",
        "treiber",
        "default",
        3,
        {"TREIBER_POP": "cas", "TREIBER_HOLD": "2"},
        pct_budget=100,
    ),
    PlantedBug(
        "treiber-cas-hold1",
        "the same bug; each hart holds 1 node",
        "treiber",
        "default",
        3,
        {"TREIBER_POP": "cas"},
        pct_budget=None,
    ),
    PlantedBug(
        "remote-free-plain",
        "frontend: a plain store where the remote-free CAS belongs",
        "stress",
        "mimalloc+bbuddy-spin",
        4,
        {"ALLOC_BUG": "remote_free_plain"},
        pct_budget=100,
    ),
    PlantedBug(
        "no-collect",
        "frontend: remote frees are never collected",
        "bench-larson",
        "mimalloc+bbuddy-spin",
        4,
        {"ALLOC_BUG": "no_collect"},
        pct_budget=10,
    ),
    # The survivors of issue 21: page-race makes the harts meet on the same tree nodes, free-race
    # on the same full pages (prodcons found take-all-plain at pct's seed 9 once; since the
    # runtime's shared files shifted its instructions, 0 of 60 seeds)
    PlantedBug(
        "claim-plain",
        "lock-free buddy: a node claimed by a load, a test and a store, not a CAS",
        "page-race",
        "bbuddy-lockfree",
        4,
        {"ALLOC_BUG": "claim_plain"},
        pct_budget=100,
    ),
    PlantedBug(
        "climb-once",
        "lock-free buddy: one CAS per ancestor on the way up, its failure ignored",
        "page-race",
        "bbuddy-lockfree",
        4,
        {"ALLOC_BUG": "climb_once"},
        pct_budget=50,
    ),
    PlantedBug(
        "take-all-plain",
        "frontend: the owner takes thread_free by a load then a store of NULL, not an exchange",
        "free-race",
        "mimalloc+bbuddy-spin",
        4,
        {"ALLOC_BUG": "take_all_plain"},
        pct_budget=20,
    ),
)
