"""Exploration: many seeded schedules of one run with the oracle on (explore.py), shrinking a
failing schedule (minimize.py), and the planted bugs exploration must find (planted.py).

May import: the session and everything below it.
"""
