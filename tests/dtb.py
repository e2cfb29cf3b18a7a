"""A small reader of flattened device trees (DTB), written apart from emulator/machine/fdt.py so
that a test compares our writer's output, and QEMU's, through code that shares nothing with it.

`parse(blob)` gives the root `Node`; `Node.find(path)` a node by its full path; `Tree.resolve`
turns a phandle into the path of the node that carries it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = 0xD00DFEED
BEGIN_NODE, END_NODE, PROP, NOP, END = 1, 2, 3, 4, 9


@dataclass
class Node:
    name: str
    path: str
    props: dict[str, bytes] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)

    def cells(self, prop: str) -> list[int]:
        value = self.props[prop]
        assert len(value) % 4 == 0, (self.path, prop)
        return list(struct.unpack(f">{len(value) // 4}I", value))

    def cell(self, prop: str) -> int:
        (value,) = self.cells(prop)
        return value

    def strings(self, prop: str) -> list[str]:
        value = self.props[prop]
        assert value.endswith(b"\0"), (self.path, prop)
        return value[:-1].decode().split("\0")

    def walk(self):
        yield self
        for child in self.children.values():
            yield from child.walk()


@dataclass
class Tree:
    root: Node
    header: dict[str, int]

    def find(self, path: str) -> Node:
        node = self.root
        for part in filter(None, path.split("/")):
            node = node.children[part]
        return node

    def nodes(self) -> dict[str, Node]:
        return {n.path: n for n in self.root.walk()}

    def resolve(self, phandle: int) -> str:
        """The path of the node whose phandle is `phandle`."""
        hits = [
            n.path for n in self.root.walk() if n.props.get("phandle") == struct.pack(">I", phandle)
        ]
        assert len(hits) == 1, (phandle, hits)
        return hits[0]


def parse(blob: bytes) -> Tree:
    fields = struct.unpack(">10I", blob[:40])
    names = ("magic", "totalsize", "off_dt_struct", "off_dt_strings", "off_mem_rsvmap",
             "version", "last_comp_version", "boot_cpuid_phys", "size_dt_strings",
             "size_dt_struct")  # fmt: skip
    header = dict(zip(names, fields, strict=True))
    assert header["magic"] == MAGIC, "not a DTB"
    assert header["totalsize"] <= len(blob)
    strings = header["off_dt_strings"]
    i = header["off_dt_struct"]
    stack: list[Node] = []
    root: Node | None = None
    while True:
        (token,) = struct.unpack_from(">I", blob, i)
        i += 4
        if token == BEGIN_NODE:
            end = blob.index(b"\0", i)
            name = blob[i:end].decode()
            i = (end + 4) & ~3
            parent = stack[-1] if stack else None
            path = "/" if parent is None else f"{parent.path.rstrip('/')}/{name}"
            node = Node(name, path)
            if parent is None:
                root = node
            else:
                assert name not in parent.children, f"two nodes {path}"
                parent.children[name] = node
            stack.append(node)
        elif token == END_NODE:
            stack.pop()
        elif token == PROP:
            length, nameoff = struct.unpack_from(">II", blob, i)
            name = blob[strings + nameoff : blob.index(b"\0", strings + nameoff)].decode()
            assert name not in stack[-1].props, f"two properties {name} in {stack[-1].path}"
            stack[-1].props[name] = blob[i + 8 : i + 8 + length]
            i = (i + 8 + length + 3) & ~3
        elif token == NOP:
            continue
        elif token == END:
            assert not stack and root is not None
            return Tree(root, header)
        else:
            raise AssertionError(f"bad token {token} at {i - 4}")
