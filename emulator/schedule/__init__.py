"""Schedules: the policies that decide which hart runs next and for how long (rr, random, timed,
pct, preempt-atomics, replay; policies.py), schedule files (files.py), and the discovery of
the plain accesses pct's `sync` unit makes steps of (syncsites.py).

rr, random, replay and timed can hand their state to the native turn loop (native_schedule,
native_resume: machine/hooks.py NativeSchedule), which decides as they would, draw for draw.

May import: the machine layer. A policy reaches a hart only through its public state (state,
instret, clock) and, for preemption at atomics, through Hooks.step.
"""
