"""The guest: C sources of the firmware (runtime, allocator libraries, apps) and the contract
between guest and host.

This package is where both sides meet without importing each other: the toolchain finds the
sources here (`ROOT`), and the emulator and the toolchain read the guest <-> host contract from
`guest.contract`, which parses guest/include/contract.h, its one definition.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
