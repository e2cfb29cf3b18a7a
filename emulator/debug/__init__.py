"""Debugging a run with GDB: a remote-serial-protocol stub that keeps the run deterministic.

  packets.py     the protocol on the wire: framing, checksums, escapes (no sockets)
  connection.py  one client on a socket: acks, no-ack mode, Ctrl-C
  registers.py   a hart's registers as GDB numbers them; the target description XML
  stub.py        the stub: a hooks.Debugger that stops harts between instructions inside
                 their turns and answers GDB's commands; --gdb-at's stopping points

May import: the machine layer (it attaches through Hooks.debugger and the harts' debugging
methods). The session wires it to the run options.
"""
