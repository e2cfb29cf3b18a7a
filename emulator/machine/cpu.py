"""What the machine reaches inside unicorn beyond its public API, in one place.

unicorn 2.1.4 (pinned in pyproject.toml) keeps a hart's architectural state in QEMU's
CPURISCVState and exports some of QEMU's own functions from its library. The machine uses:

  env fields     mhartid (unicorn never sets it), mip and mie (interrupt levels and the
                 priority filter, csrs.py), mstatus (UXL/SXL), badaddr (the faulting address of
                 a page or access fault, which unicorn never copies to mtval/stval), priv,
                 medeleg/mideleg, mcounteren/scounteren; for the native layer (emulator/native)
                 also gpr (x0..x31, the start of the env) and pc, which its INTR hook reads and
                 writes in place of the register API
  uc_struct      `cpu` (where the env is) and `stop_interrupt` (cleared, so that ebreak arrives
                 at UC_HOOK_INTR like every other exception instead of ending emu_start);
                 `emu_counter` lives in icount.py
  exported       riscv_cpu_update_mip_riscv64 (raise or lower an interrupt line and request
                 its delivery), tlb_flush_riscv64 (after PMP changes), riscv_get/set_csr_ops_riscv64
                 (csrs.py: the CSRs the machine serves itself)
  pmp_state      the PMP rules unicorn checks (csrs.Pmp keeps the guest's registers and writes
                 the rules here: unicorn's RV64 pmpcfg2 never reaches entries 8-15)

Nothing here is a fixed offset: each is found once per process by a pattern (31 chosen values
in the general registers; misa and misa_mask next to each other; a chosen pc; the address of the
library's riscv_stop_interrupt) and checked by reading back a value written through the public
register API. A different unicorn fails here with one clear error, never later with wrong behaviour.
"""

from __future__ import annotations

import ctypes
import glob
import os
import struct
from dataclasses import dataclass
from functools import cache

from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, Uc
from unicorn import riscv_const as R
from unicorn.unicorn_py3.unicorn import uclib

_X = [getattr(R, f"UC_RISCV_REG_X{i}") for i in range(32)]
_SCAN_UC = 0x4000  # bytes of uc_struct searched for pointers
_SCAN_OBJECT = 0x20000  # bytes of each pointed-to object searched for the env

# CPURISCVState fields from misa on, one 64-bit word each, in the order of unicorn 2.1.4's
# qemu/target/riscv/cpu.h (the search below checks the anchor and the read-backs check each
# field used); words before misa: badaddr -3, guest_phys_fault_addr -2, priv_ver -1.
_FIELDS_FROM_MISA = {
    "badaddr": -3, "misa": 0, "misa_mask": 1, "priv": 3, "mhartid": 6, "mstatus": 7, "mip": 8,
    "mie": 10, "mideleg": 11, "satp": 13, "stval": 14, "mtval": 15, "medeleg": 16, "stvec": 17,
    "sepc": 18, "scause": 19, "mtvec": 20, "mepc": 21, "mcause": 22,
}  # fmt: skip
# scounteren and mcounteren follow the hypervisor CSRs after mtval (cpu.h): counted in words
_COUNTEREN_FROM_MTVAL = 1 + 8 + 7 + 2 + 7


class UnicornChanged(RuntimeError):
    """unicorn's internals are not where this machine expects them (another unicorn version)."""

    def __init__(self, what: str):
        super().__init__(
            f"cannot find unicorn's {what}: this machine needs unicorn 2.1.4 exactly "
            "(pip install unicorn==2.1.4)"
        )


def _q(data: bytes, offset: int) -> int:
    return struct.unpack_from("<Q", data, offset)[0]


def _read(fd: int, address: int, size: int) -> bytes:
    """Process memory at `address` through /proc/self/mem: an unmapped address reads nothing
    (an error), never a crash."""
    try:
        return os.pread(fd, size, address)
    except OSError:
        return b""


def _function(name: str, restype, *argtypes):
    try:
        fn = getattr(uclib, name)
    except AttributeError:
        raise UnicornChanged(f"exported function {name}") from None
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_U64P = ctypes.POINTER(ctypes.c_uint64)
PRED = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
READ = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, _U64P)
WRITE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64)
OP = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_int, _U64P, ctypes.c_uint64, ctypes.c_uint64
)


class Ops(ctypes.Structure):
    """QEMU's riscv_csr_operations: one entry of unicorn's CSR table."""

    _fields_ = [
        ("predicate", ctypes.c_void_p),
        ("read", ctypes.c_void_p),
        ("write", ctypes.c_void_p),
        ("op", ctypes.c_void_p),
    ]


@cache
def csr_table() -> tuple:
    """(get_ops, set_ops): unicorn's CSR table, one per process."""
    get = _function("riscv_get_csr_ops_riscv64", None, ctypes.c_int, ctypes.POINTER(Ops))
    put = _function("riscv_set_csr_ops_riscv64", None, ctypes.c_int, ctypes.POINTER(Ops))
    return get, put


def csr_write(env: int, csrno: int, value: int) -> bool:
    """A CSR write through unicorn's table entry (no privilege check); False if the CSR has no
    writer or refused the value."""
    ops = Ops()
    csr_table()[0](csrno, ctypes.byref(ops))
    return bool(ops.write) and WRITE(ops.write)(env, csrno, value) == 0


def csr_read(env: int, csrno: int) -> int | None:
    """A CSR read through unicorn's table entry (the machine's own accessors included), as an
    instruction in any mode would see it without the privilege check (a debugger's view); None
    if the CSR does not exist."""
    ops = Ops()
    csr_table()[0](csrno, ctypes.byref(ops))
    if not ops.read:
        return None
    out = ctypes.c_uint64()
    if READ(ops.read)(env, csrno, ctypes.byref(out)) != 0:
        return None
    return out.value


PMP_ENTRIES = 16


@dataclass(frozen=True)
class Layout:
    uc_cpu: int  # offset in uc_struct of the `cpu` pointer
    env_in_cpu: int  # offset of CPURISCVState in the RISCVCPU object
    fields: dict[str, int]  # CPURISCVState field -> byte offset
    stop_interrupt: int  # offset in uc_struct of `stop_interrupt`
    pmp_state: int  # offset in CPURISCVState of pmp_state (pmp.h pmp_table_t)


def _handle(uc: Uc) -> int:
    return ctypes.cast(uc._uch, ctypes.c_void_p).value  # type: ignore[return-value]


def _misa_m(uc: Uc) -> int:
    """misa through the register API, which checks privilege: read in M-mode."""
    return uc.reg_read(R.UC_RISCV_REG_MISA)


@cache
def layout() -> Layout:
    """Found once per process on a throw-away instance (in M-mode, as after reset)."""
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    signature = [0x5EED_0000_0000_0000 | (i * 0x1111_1111 + 7) for i in range(1, 32)]
    for reg, value in zip(_X[1:], signature, strict=True):
        uc.reg_write(reg, value)
    pattern = struct.pack("<Q", 0) + b"".join(struct.pack("<Q", v) for v in signature)
    handle = _handle(uc)
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    env = cpu = uc_cpu = None
    try:
        uc_bytes = _read(fd, handle, _SCAN_UC)
        pointers = []
        for offset in range(0, len(uc_bytes) - 8, 8):
            p = _q(uc_bytes, offset)
            if 0x10000 <= p <= 0x7FFF_FFFF_FFFF and not p & 7:
                pointers.append((offset, p))
        for _, p in pointers:
            at = _read(fd, p, _SCAN_OBJECT).find(pattern)
            if at >= 0 and at % 8 == 0:
                env = p + at
                break
        if env is None:
            raise UnicornChanged("CPU state (CPURISCVState)")
        # uc->cpu: a pointer just below the env whose CPUState holds env_ptr == env
        for offset, p in pointers:
            if not p < env < p + _SCAN_OBJECT:
                continue
            head = _read(fd, p, 0x400)
            if any(_q(head, k) == env for k in range(0, len(head) - 8, 8)):
                cpu, uc_cpu = p, offset
                break
    finally:
        os.close(fd)
    if cpu is None or uc_cpu is None:
        raise UnicornChanged("CPU object (uc->cpu)")
    state = ctypes.string_at(env, 0x600)
    misa = _misa_m(uc)
    anchors = [o for o in range(0, 0x600 - 16, 8) if _q(state, o) == misa == _q(state, o + 8)]
    if len(anchors) != 1:
        raise UnicornChanged("misa in the CPU state")
    fields = {name: anchors[0] + 8 * k for name, k in _FIELDS_FROM_MISA.items()}
    fields["gpr"] = 0  # the pattern above starts at x0
    pc = 0x5EED_7C00_1234_5678
    uc.reg_write(R.UC_RISCV_REG_PC, pc)
    state = ctypes.string_at(env, 0x600)
    hits = [o for o in range(0, 0x600 - 8, 8) if _q(state, o) == pc]
    if len(hits) != 1:
        raise UnicornChanged("pc in the CPU state")
    fields["pc"] = hits[0]
    legacy_mtval = anchors[0] + 8 * 23  # unused since priv 1.10 (mtval is the field above)
    fields["scounteren"] = legacy_mtval + 8 * _COUNTEREN_FROM_MTVAL
    fields["mcounteren"] = fields["scounteren"] + 8
    found = Layout(uc_cpu, env - cpu, fields, _stop_interrupt_offset(handle), _pmp_state(env))
    _check(uc, found)
    return found


def _pmp_state(env: int) -> int:
    """pmp_state: pmp[16] of {addr_reg, cfg_reg} (16 bytes each), then addr[16] of {sa, ea},
    then num_rules; found by writing pmpaddr0..7 through unicorn's CSR table."""
    values = [0x1357_0000 + 0x111 * i for i in range(8)]
    for i, v in enumerate(values):
        csr_write(env, 0x3B0 + i, v)
    data = ctypes.string_at(env, 0x2000)
    first = struct.pack("<Q", values[0])
    at = data.find(first)
    while at >= 0:
        if at % 8 == 0 and all(_q(data, at + 16 * i) == v for i, v in enumerate(values)):
            break
        at = data.find(first, at + 1)
    if at < 0:
        raise UnicornChanged("CPU state field pmp_state")
    for i in range(8):
        csr_write(env, 0x3B0 + i, 0)
    return at


def _symbol_values(path: str, names: tuple[str, ...]) -> dict[str, list[int]]:
    """The values of some symbols of an ELF shared library, found without walking its whole
    symbol table in Python (libunicorn has hundreds of thousands of symbols)."""
    from elftools.elf.elffile import ELFFile

    found: dict[str, list[int]] = {}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for table_name in (".symtab", ".dynsym"):
            table = elf.get_section_by_name(table_name)
            if table is None:
                continue
            strings = elf.get_section(table["sh_link"]).data()
            data, size = table.data(), table["sh_entsize"]
            for name in names:
                at = strings.find(b"\0" + name.encode() + b"\0")
                if at < 0:
                    continue
                key, start = struct.pack("<I", at + 1), 0
                while (hit := data.find(key, start)) >= 0:
                    if hit % size == 0:
                        found.setdefault(name, []).append(_q(data, hit + 8))  # st_value
                    start = hit + 1
    return found


def _stop_interrupt_offset(handle: int) -> int:
    """uc_struct.stop_interrupt holds the library's static riscv_stop_interrupt, whose address
    comes from the library's symbol table and load base."""
    import unicorn

    paths = glob.glob(os.path.join(os.path.dirname(unicorn.__file__), "lib", "libunicorn.so*"))
    anchor = "riscv_get_csr_ops_riscv64"
    symbols = _symbol_values(paths[0], (anchor, "riscv_stop_interrupt")) if paths else {}
    if anchor not in symbols or "riscv_stop_interrupt" not in symbols:
        raise UnicornChanged("riscv_stop_interrupt in libunicorn's symbol table")
    loaded = ctypes.cast(getattr(uclib, anchor), ctypes.c_void_p).value
    base = loaded - symbols[anchor][0]  # type: ignore[operator]
    candidates = {base + v for v in symbols["riscv_stop_interrupt"]}
    data = ctypes.string_at(handle, _SCAN_UC)
    hits = [o for o in range(0, _SCAN_UC - 8, 8) if _q(data, o) in candidates]
    if not hits:
        raise UnicornChanged("uc_struct.stop_interrupt")
    # The scan runs past the end of this uc_struct, and the heap may put another instance's
    # (a hart's) right after it, with its own stop_interrupt: this struct's field is the first.
    return hits[0]


def _check(uc: Uc, found: Layout) -> None:
    """Write through the register API, read through the layout: every field used agrees."""
    env = ctypes.c_uint64.from_address(_handle(uc) + found.uc_cpu).value + found.env_in_cpu

    def field(name: str) -> int:
        return ctypes.c_uint64.from_address(env + found.fields[name]).value

    probes = [
        (R.UC_RISCV_REG_MSTATUS, "mstatus", 0x1800),
        (R.UC_RISCV_REG_MIE, "mie", 0x88),
        (R.UC_RISCV_REG_MIDELEG, "mideleg", 0x222),
        (R.UC_RISCV_REG_MEDELEG, "medeleg", 0x100),
        (R.UC_RISCV_REG_MTVEC, "mtvec", 0x8000_0100),
        (R.UC_RISCV_REG_STVEC, "stvec", 0x8000_0200),
        (R.UC_RISCV_REG_MCOUNTEREN, "mcounteren", 0x5),
        (R.UC_RISCV_REG_SCOUNTEREN, "scounteren", 0x2),
        (R.UC_RISCV_REG_SEPC, "sepc", 0x8000_0304),
        (R.UC_RISCV_REG_SCAUSE, "scause", 0x9),
        (R.UC_RISCV_REG_STVAL, "stval", 0x1234),
        (R.UC_RISCV_REG_MEPC, "mepc", 0x8000_0404),
        (R.UC_RISCV_REG_MCAUSE, "mcause", 0xB),
        (R.UC_RISCV_REG_MTVAL, "mtval", 0x5678),
        (R.UC_RISCV_REG_SATP, "satp", 8 << 60 | 0x80123),
    ]
    for reg, name, value in probes:
        uc.reg_write(reg, value)
        if field(name) & value != value:
            raise UnicornChanged(f"CPU state field {name}")
    if field("priv") != 3 or field("mhartid") != 0:
        raise UnicornChanged("CPU state fields priv and mhartid")
    uc.reg_write(R.UC_RISCV_REG_PC, 0x8000_1234)
    uc.reg_write(_X[5], 0x5EED_0005)
    if (
        field("pc") != 0x8000_1234
        or field("gpr") != 0
        or ctypes.c_uint64.from_address(env + found.fields["gpr"] + 8 * 5).value != 0x5EED_0005
    ):
        raise UnicornChanged("CPU state fields gpr and pc")


@cache
def _exports() -> tuple:
    """(riscv_cpu_update_mip, tlb_flush) of the library."""
    update_mip = _function(
        "riscv_cpu_update_mip_riscv64", ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32,
        ctypes.c_uint32,
    )  # fmt: skip
    return update_mip, _function("tlb_flush_riscv64", None, ctypes.c_void_p)


class CpuState:
    """One unicorn instance's CPU state: fields as live 64-bit views, and QEMU's own functions
    for interrupt lines and the TLB."""

    def __init__(self, uc: Uc):
        found = layout()
        uc.reg_read(R.UC_RISCV_REG_PC)  # unicorn builds its CPU on first use
        handle = _handle(uc)
        self.cpu = ctypes.c_uint64.from_address(handle + found.uc_cpu).value
        self.env = self.cpu + found.env_in_cpu
        self._stop_interrupt = ctypes.c_uint64.from_address(handle + found.stop_interrupt)
        view = ctypes.c_uint64.from_address
        f = found.fields
        self.mhartid = view(self.env + f["mhartid"])
        self.mstatus = view(self.env + f["mstatus"])
        self.mip = view(self.env + f["mip"])
        self.mie = view(self.env + f["mie"])
        self.mideleg = view(self.env + f["mideleg"])
        self.medeleg = view(self.env + f["medeleg"])
        self.badaddr = view(self.env + f["badaddr"])
        self.priv = view(self.env + f["priv"])
        self.satp = view(self.env + f["satp"])
        self.mcounteren = view(self.env + f["mcounteren"])
        self.scounteren = view(self.env + f["scounteren"])
        self.stvec, self.sepc = view(self.env + f["stvec"]), view(self.env + f["sepc"])
        self.scause, self.stval = view(self.env + f["scause"]), view(self.env + f["stval"])
        self.mtvec, self.mepc = view(self.env + f["mtvec"]), view(self.env + f["mepc"])
        self.mcause, self.mtval = view(self.env + f["mcause"]), view(self.env + f["mtval"])
        self.pmp_state = self.env + found.pmp_state
        self._fields = f

    def address_of(self, name: str) -> int:
        """Where a CPU state field lives (for the native layer, which reads it from C)."""
        return self.env + self._fields[name]

    def set_pmp_rules(self, rules: list[tuple[int, int, int, int]]) -> None:
        """Unicorn's PMP rules: per entry (pmpaddr, cfg, first, last address), 16 of them."""
        base = self.pmp_state
        active = 0
        for i, (address, cfg, first, last) in enumerate(rules):
            ctypes.c_uint64.from_address(base + 16 * i).value = address
            ctypes.c_uint8.from_address(base + 16 * i + 8).value = cfg
            ctypes.c_uint64.from_address(base + 256 + 16 * i).value = first
            ctypes.c_uint64.from_address(base + 256 + 16 * i + 8).value = last
            active += bool(cfg & 0x18)
        ctypes.c_uint32.from_address(base + 512).value = active

    def update_mip(self, mask: int, value: int) -> None:
        """Set the mip bits in `mask` to `value`'s; unicorn takes a pending, enabled interrupt
        at its next instruction boundary it checks (the start of emu_start, the end of a
        translated block)."""
        _exports()[0](self.cpu, mask, value)

    def flush_tlb(self) -> None:
        _exports()[1](self.cpu)

    def report_ebreak_as_exception(self) -> None:
        """ebreak (and c.ebreak) then reaches UC_HOOK_INTR as intno 3, pc past it, like every
        other exception, instead of ending emu_start."""
        self._stop_interrupt.value = 0
