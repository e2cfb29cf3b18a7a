"""python -m toolchain build [APP...] | list"""

from __future__ import annotations

import argparse
import sys

from guest.contract import Status
from toolchain import catalog
from toolchain.args import define
from toolchain.build import BuildError, build
from toolchain.compiler import CompilerMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolchain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build apps (all when none named); prints each image's path")
    b.add_argument("apps", nargs="*", metavar="APP")
    b.add_argument("--config", default="default", help="build configuration (see `list`)")
    b.add_argument(
        "-D",
        dest="defines",
        action="append",
        type=define,
        default=[],
        metavar="NAME=VALUE",
        help="extra macro for this build",
    )
    b.add_argument(
        "--firmware",
        default=catalog.DEFAULT_FIRMWARE,
        choices=list(catalog.FIRMWARES),
        help="what runs below the image: none (bare M-mode, the default) or opensbi (an S-mode "
        "payload at KERNEL_BASE for SBI firmware)",
    )
    b.add_argument("--cc", help="compiler command (default: $RISCV_CC, else ziglang)")
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    sub.add_parser("list", help="list apps, configurations and libraries")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print("apps:")
            for a in catalog.apps().values():
                print(f"  {a.name:16} {a.description}")
            print("configurations:")
            composed = []
            for c in catalog.configs().values():
                if c.kind == "composed":
                    composed.append(c.name)
                else:
                    print(f"  {c.name:16} {c.description}")
            print(
                f"composed configurations ({catalog.GRAMMAR}, the provider being one of the above):"
            )
            for part in catalog.parts().values():
                if part.kind in ("frontend", "option"):
                    print(f"  {part.kind + ' ' + part.name:17} {part.description}")
            for name in composed:
                print(f"  {name}")
            print("firmwares (--firmware):")
            for fw in catalog.FIRMWARES.values():
                print(f"  {fw.name:16} {fw.description}")
            print("libraries (guest/lib; the runtime and what a library requires come along):")
            for lib in catalog.libraries().values():
                needs = f" [requires {', '.join(lib.requires)}]" if lib.requires else ""
                print(f"  {lib.name:16} {lib.kind:9} {lib.description}{needs}")
            return 0
        from toolchain.compiler import find_compiler

        cc = find_compiler(args.cc)
        for name in args.apps or list(catalog.apps()):
            print(
                build(
                    name,
                    args.config,
                    dict(args.defines),
                    cc=cc,
                    force=args.force,
                    firmware=args.firmware,
                )
            )
        return 0
    except (catalog.CatalogError, CompilerMissing) as e:
        print(f"toolchain: {e}", file=sys.stderr)
        return Status.BAD_INPUT
    except BuildError as e:
        print(f"toolchain: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
