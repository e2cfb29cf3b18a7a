"""Images a hart runs: ELF files (validation, loadable segments, code, symbols and source lines,
through pyelftools) and raw binaries (firmware and kernels as QEMU's -bios and -kernel take
them: bytes loaded at an address the boot convention picks, no symbols).

Symbols are read when the image is opened; the DWARF line table only when a location is
first asked for (error messages, reports), so a plain run pays nothing for it.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from emulator.machine.errors import BadInput

EM_RISCV = 243
SHF_EXECINSTR = 0x4
_MACHINE_NAMES = {"EM_386": "x86", "EM_ARM": "ARM", "EM_X86_64": "x86-64", "EM_AARCH64": "AArch64"}


@dataclass(frozen=True)
class Segment:
    address: int  # physical load address
    data: bytes
    memsize: int
    executable: bool


@dataclass(frozen=True)
class Symbol:
    address: int
    size: int
    name: str


class Image:
    """A validated rv64 ELF image, or a raw binary when `raw_address` says where one goes (a file
    that is no ELF is then loaded there whole; without it, such a file is an error)."""

    def __init__(self, path: str | Path, raw_address: int | None = None):
        self.path = Path(path)
        self.raw_address: int | None = None  # where a raw binary is loaded; None for an ELF
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise BadInput(
                f"{self.path}: no such file; build one with `python -m toolchain "
                "build APP` or pass --app NAME"
            ) from None
        except OSError as e:
            raise BadInput(f"{self.path}: cannot read it ({e.strerror})") from None
        if raw[:4] != b"\x7fELF" and raw_address is not None:
            self._open_raw(raw, raw_address)
            return
        if raw[:4] != b"\x7fELF":
            raise BadInput(f"{self.path}: not an ELF file; pass a RISC-V ELF image or --app NAME")
        if raw[4] == 1:
            machine = int.from_bytes(raw[18:20], "little")
            what = "32-bit RISC-V" if machine == EM_RISCV else "32-bit"
            raise BadInput(
                f"{self.path}: a {what} ELF (ELFCLASS32); this machine runs rv64 "
                "images: build for riscv64"
            )
        self.raw = raw
        self.sha256 = hashlib.sha256(raw).hexdigest()
        try:
            self._elf = ELFFile(io.BytesIO(raw))
            machine = self._elf.header["e_machine"]
            if machine != "EM_RISCV":
                name = _MACHINE_NAMES.get(machine, str(machine).removeprefix("EM_"))
                raise BadInput(
                    f"{self.path}: an ELF for {name}, not RISC-V; build the image for riscv64"
                )
            self.entry: int = self._elf.header["e_entry"]
            self.segments = self._read_segments()
            self.symbols, self._by_name = self._read_symbols()
        except (ELFError, ValueError, KeyError) as e:
            raise BadInput(f"{self.path}: a damaged ELF file ({e})") from None
        self._starts = [s.address for s in self.symbols]
        self._extents = self._read_extents(alloc=True)
        self._code = self._read_extents(alloc=False)

    def _open_raw(self, raw: bytes, address: int) -> None:
        if not raw:
            raise BadInput(
                f"{self.path}: an empty file; a raw binary needs at least one instruction"
            )
        self.raw = raw
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.raw_address = self.entry = address
        self.segments = [Segment(address, raw, len(raw), True)]
        self.symbols, self._by_name = [], {}
        self._elf = None
        self._starts = []
        self._extents = self._code = []

    @property
    def kind(self) -> str:
        """How the file was loaded, for messages: "ELF" or "raw binary"."""
        return "ELF" if self.raw_address is None else "raw binary"

    @property
    def start(self) -> int:
        """The lowest address the image loads at (where QEMU's fw_dynamic says the kernel
        starts, whatever its ELF entry)."""
        return min(seg.address for seg in self.segments)

    @cached_property
    def end(self) -> int:
        """The address just past the last byte the image occupies (bss included)."""
        return max(seg.address + seg.memsize for seg in self.segments)

    def code(self) -> list[tuple[int, bytes]]:
        """(load address, bytes) of each stretch of instructions: the ELF's executable sections
        (a firmware such as OpenSBI puts its data in the same RWX segment as its code, so a
        segment is no proof of code), its executable segments when it has no section headers;
        none for a raw binary, which does not say where its code ends."""
        if self._elf is None:
            return []
        out = []
        for sec in self._elf.iter_sections():
            if sec["sh_type"] != "SHT_PROGBITS" or not sec["sh_flags"] & SHF_EXECINSTR:
                continue
            physical = self._physical(sec["sh_addr"])
            if physical is not None:
                out.append((physical, sec.data()))
        if out or self._elf.num_sections():
            return out
        return [(seg.address, seg.data) for seg in self.segments if seg.executable]

    def _physical(self, virtual: int) -> int | None:
        """The load address of a virtual address inside a loadable segment."""
        for seg in self._elf.iter_segments():  # type: ignore[union-attr]
            if seg["p_type"] == "PT_LOAD" and 0 <= virtual - seg["p_vaddr"] < seg["p_memsz"]:
                return virtual - seg["p_vaddr"] + seg["p_paddr"]
        return None

    def _read_segments(self) -> list[Segment]:
        out = []
        for seg in self._elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            out.append(
                Segment(seg["p_paddr"], seg.data(), seg["p_memsz"], bool(seg["p_flags"] & 1))
            )
        if not out:
            raise BadInput(f"{self.path}: the ELF has no loadable segment")
        return out

    def _read_extents(self, alloc: bool) -> list[tuple[int, int]]:
        """[start, end) of each section the image occupies in memory (alloc), or of each
        holding code, merged and sorted; its loadable segments when it has no section headers."""
        flag = 2 if alloc else 4  # SHF_ALLOC, SHF_EXECINSTR
        spans = [
            (sec["sh_addr"], sec["sh_addr"] + sec["sh_size"])
            for sec in self._elf.iter_sections()
            if sec["sh_flags"] & flag and sec["sh_size"]
        ] or [
            (seg.address, seg.address + seg.memsize)
            for seg in self.segments
            if alloc or seg.executable
        ]
        merged: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def contains(self, address: int, code: bool = False) -> bool:
        """Whether `address` lies in one of the image's sections (code, data, bss, stacks), or
        with `code`, in one holding code."""
        extents = self._code if code else self._extents
        i = bisect.bisect_right(extents, (address, float("inf"))) - 1
        return i >= 0 and address < extents[i][1]

    def _read_symbols(self) -> tuple[list[Symbol], dict[str, Symbol]]:
        table = self._elf.get_section_by_name(".symtab")
        found: dict[int, Symbol] = {}
        by_name: dict[str, Symbol] = {}
        if table is not None:
            for sym in table.iter_symbols():
                kind = sym["st_info"]["type"]
                if kind not in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE") or not sym.name:
                    continue
                if sym["st_shndx"] == "SHN_UNDEF" or sym.name.startswith((".L", "$")):
                    continue
                s = Symbol(sym["st_value"], sym["st_size"], sym.name)
                by_name.setdefault(s.name, s)
                # Prefer sized symbols (functions, objects) over labels at the same address.
                if s.address not in found or (s.size and not found[s.address].size):
                    found[s.address] = s
        return sorted(found.values(), key=lambda s: s.address), by_name

    # ---- lookups -------------------------------------------------------------------------

    def read(self, address: int, size: int) -> bytes | None:
        """`size` bytes the image loads at `address`, or None if no segment holds them all."""
        for seg in self.segments:
            offset = address - seg.address
            if offset >= 0 and offset + size <= len(seg.data):
                return seg.data[offset : offset + size]
        return None

    def section(self, name: str) -> tuple[int, bytes] | None:
        """(address, contents) of a section, or None when the image has none of that name."""
        if self._elf is None:
            return None
        sec = self._elf.get_section_by_name(name)
        if sec is None or sec["sh_type"] == "SHT_NOBITS":
            return None
        return sec["sh_addr"], sec.data()

    @cached_property
    def dwarf(self):
        """pyelftools' DWARFInfo, or None for an image built without -g."""
        if self._elf is None or not self._elf.has_dwarf_info():
            return None
        return self._elf.get_dwarf_info()

    def symbol(self, name: str) -> Symbol | None:
        return self._by_name.get(name)

    def symbol_at(self, address: int) -> tuple[Symbol, int] | None:
        """The symbol `address` lies in and the offset into it; None outside the image's
        sections (past `_end`, the heap, RAM's end: no label there names what lies there)."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0 or not self.contains(address):
            return None
        s = self.symbols[i]
        if s.size and address >= s.address + s.size:
            return None
        return s, address - s.address

    def cached(self, what: str, compute):
        """compute() (JSON-able), kept beside the image as IMAGE.WHAT.json and keyed by the
        image's hash, when that directory is writable: reading DWARF with pyelftools costs a
        good part of a second per image, which a short run should not pay every time."""
        path = self.path.with_name(f"{self.path.name}.{what}.json")
        try:
            saved = json.loads(path.read_text())
            if saved.get("sha256") == self.sha256:
                return saved["value"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        value = compute()
        try:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"sha256": self.sha256, "value": value}))
            tmp.replace(path)
        except OSError:
            pass
        return value

    @cached_property
    def _lines(self) -> tuple[list[int], list[tuple[str, int]]]:
        if self._elf is None or not self._elf.has_dwarf_info():
            return [], []  # nothing to read, and nothing to cache beside the file
        rows = self.cached("lines", self._read_lines)
        return [r[0] for r in rows], [(r[1], r[2]) for r in rows]

    def _read_lines(self) -> list[tuple[int, str, int]]:
        if self._elf is None or not self._elf.has_dwarf_info():
            return []
        dwarf = self._elf.get_dwarf_info()
        rows = []
        for cu in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(cu)
            if program is None:
                continue
            header = program.header
            files = header["file_entry"]
            base = 0 if header["version"] >= 5 else 1
            for entry in program.get_entries():
                st = entry.state
                if st is None or st.end_sequence:
                    continue
                index = st.file - base
                name = files[index].name.decode() if 0 <= index < len(files) else "?"
                rows.append((st.address, name, st.line))
        rows.sort()
        return rows

    def line_at(self, address: int) -> tuple[str, int] | None:
        addresses, places = self._lines
        i = bisect.bisect_right(addresses, address) - 1
        if i < 0 or not self.contains(address, code=True):
            return None
        if self.symbol_at(address) is None and address - addresses[i] > 64:
            return None
        return places[i]

    def where(self, address: int) -> str:
        """`0x80000123 (name+0x1a, file.c:57)`: as much as the image knows (symbol and line only
        for an address inside its sections)."""
        parts = []
        hit = self.symbol_at(address)
        if hit:
            sym, off = hit
            parts.append(f"{sym.name}+{off:#x}" if off else sym.name)
        line = self.line_at(address)
        if line:
            parts.append(f"{line[0]}:{line[1]}")
        return f"{address:#x}" + (f" ({', '.join(parts)})" if parts else "")
