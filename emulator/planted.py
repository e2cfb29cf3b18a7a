"""Planted bugs: the runs that schedule exploration must be able to break, in one table.

Each names an app, a configuration and the macros that plant the bug (guest/alloc/README.md,
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
    # seeds pct must find it within (pytest); None: pct is not expected to (see docs)
    pct_budget: int | None = 50


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
        "Treiber stack popped with compare-exchange (ABA)",
        "treiber",
        "default",
        3,
        {"TREIBER_POP": "cas"},
        pct_budget=None,
    ),
)
