"""The machine layer: what a RISC-V multicore is, and nothing about who watches it.

  image.py    an rv64 ELF image (segments, code, symbols, DWARF lines), or a raw binary
  boot.py     the QEMU virt boot convention: firmware and kernel placement, the reset ROM,
              the fw_dynamic info block
  isa.py      ISA facts and decoders (masks, sign extension, registers, CSRs, causes)
  sites.py    instructions the machine must act on, found by disassembling the image
  devices.py  the QEMU-virt devices (16550 UART, PLIC, CLINT, test finisher); fdt.py: the
              device tree
  hart.py     one hart: a unicorn instance, software trap entry, wfi, replaced sites
  atomics.py  LR/SC with reservations, watched AMOs and fences: the A extension in one place
  icount.py   unicorn's live instruction counter (exact event times)
  events.py   typed events and the bus; hooks.py: the narrow interfaces (HartHost, Hooks,
              Policy) through which harts, instruments and schedules meet the machine
  machine.py  RAM, devices, harts and the loop that runs them; how a run ends (Outcome)
  errors.py   errors the user sees as one line and an exit status

May import: guest.contract, unicorn, capstone, pyelftools. Nothing above this layer
(schedule, instruments, session, explore, bench, cli) is imported here.
"""
