"""The guest <-> host contract, read from guest/include/contract.h (its one definition).

`C` holds every macro of that header as an int: ``C.RAM_BASE``, ``C.SYS_write``. The emulator's
exit statuses (EMU_STATUS_*) are also an enum, `Status`, built from the same macros.
"""

from __future__ import annotations

import ast
import operator
import re
from enum import IntEnum
from pathlib import Path
from types import SimpleNamespace

HEADER = Path(__file__).resolve().parent / "include" / "contract.h"

_DEFINE = re.compile(r"^\s*#define\s+([A-Za-z_]\w*)\s+(.+?)\s*(?:/\*.*)?$")
_SUFFIX = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b")
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
    ast.BitXor: operator.xor,
}


def _evaluate(text: str, known: dict[str, int]) -> int:
    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in known:
            return known[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            return ~walk(node.operand) & (2**64 - 1)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise ValueError(f"{HEADER.name}: cannot read {text!r}")

    return walk(ast.parse(_SUFFIX.sub(r"\1", text), mode="eval").body)


def parse(path: Path = HEADER) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in path.read_text().splitlines():
        m = _DEFINE.match(line)
        if m and not m.group(1).endswith("_H"):
            values[m.group(1)] = _evaluate(m.group(2), values)
    return values


VALUES = parse()
C = SimpleNamespace(**VALUES)


def with_prefix(prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: v for k, v in VALUES.items() if k.startswith(prefix)}


# The emulator's own exit statuses (README, "Exit statuses"): BAD_INPUT, FAULT, BUDGET, ...
Status = IntEnum("Status", with_prefix("EMU_STATUS_"))
