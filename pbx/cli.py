"""Command line: `pbx run | check-config | version` (SPEC section 9)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pbx import __version__


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pbx", description="SIP PBX and contact-center call control")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="start the daemon")
    r.add_argument("--config", type=Path, default=Path("config"), help="config directory")
    r.add_argument("--data", type=Path, default=Path("var"), help="data directory (SQLite)")
    c = sub.add_parser("check-config", help="validate the config and print every problem")
    c.add_argument("--config", type=Path, default=Path("config"))
    sub.add_parser("version", help="print the version")
    args = p.parse_args(argv)

    if args.cmd == "version":
        print(__version__)
        return 0
    from pbx.config import ConfigError, load_config

    if args.cmd == "check-config":
        try:
            load_config(args.config)
        except ConfigError as e:
            print(str(e), file=sys.stderr)
            return 1
        print(f"{args.config}: ok")
        return 0
    from pbx.app import run

    try:
        run(args.config, args.data)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
