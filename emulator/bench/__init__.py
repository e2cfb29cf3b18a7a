"""Benchmarks: the SMP allocation benchmark sweep under the virtual-time model (sweep.py) and
its outputs (report.py).

May import: the session and everything below it.
"""
