"""The guest <-> host contract, read from guest/include/contract.h (its one definition).

`C` holds every macro of that header as an int: ``C.RAM_BASE``, ``C.SYS_write``. Names are
grouped by prefix for whoever needs a table (``syscalls()``, ``emulator_statuses()``).
"""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path
from types import SimpleNamespace

HEADER = Path(__file__).resolve().parent.parent / "guest" / "include" / "contract.h"

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


def syscalls() -> dict[int, str]:
    """System-call number -> name."""
    return {v: k for k, v in with_prefix("SYS_").items()}


def emulator_statuses() -> dict[str, int]:
    return with_prefix("EMU_STATUS_")
