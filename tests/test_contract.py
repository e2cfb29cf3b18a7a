"""The contract header is the one definition: C and Python must read the same numbers."""

import subprocess

from elftools.elf.elffile import ELFFile

from guest import contract
from toolchain import find_compiler


def test_python_reads_what_the_compiler_sees(tmp_path):
    names = sorted(contract.VALUES)
    assert {"RAM_BASE", "SYS_write", "SYS_mmap", "EMU_STATUS_FAULT", "CLINT_MTIME"} <= set(names)
    src = tmp_path / "values.c"
    src.write_text(
        '#include "contract.h"\n'
        "const unsigned long long contract_values[] = {\n"
        + "".join(f"    (unsigned long long)({n}),\n" for n in names)
        + "};\n"
    )
    obj = tmp_path / "values.o"
    cc = find_compiler()
    subprocess.run(
        [*cc.command, *cc.flags(), f"-I{contract.HEADER.parent}", "-c", str(src), "-o", str(obj)],
        check=True,
    )
    with obj.open("rb") as f:
        elf = ELFFile(f)
        data = elf.get_section_by_name(".rodata").data()
        seen = [int.from_bytes(data[8 * i : 8 * i + 8], "little") for i in range(len(names))]
    expected = [contract.VALUES[n] & (2**64 - 1) for n in names]
    assert dict(zip(names, seen, strict=True)) == dict(zip(names, expected, strict=True))


def test_parser_rejects_what_it_cannot_read(tmp_path):
    bad = tmp_path / "bad.h"
    bad.write_text("#define GOOD 4\n#define BAD sizeof(long)\n")
    try:
        contract.parse(bad)
    except ValueError as e:
        assert "sizeof" in str(e)
    else:
        raise AssertionError("an unreadable value must not pass silently")


def test_statuses_are_distinct_from_guest_codes():
    statuses = {s.name: s.value for s in contract.Status}
    assert statuses == contract.with_prefix("EMU_STATUS_")
    assert len(set(statuses.values())) == len(statuses)
    assert min(statuses.values()) > contract.C.GUEST_EXIT_MAX
    assert max(statuses.values()) < 126  # below the shell's own 126/127/128+n
