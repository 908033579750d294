"""Command line: `pbx run | check-config | explain | version` (SPEC section 9)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pbx import __version__

_DIALPLANS_HELP = "dialplan directory (default: dialplans/ next to the config directory)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pbx", description="SIP PBX and contact-center call control")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="start the daemon")
    r.add_argument("--config", type=Path, default=Path("config"), help="config directory")
    r.add_argument("--data", type=Path, default=Path("var"), help="data directory (SQLite)")
    r.add_argument("--dialplans", type=Path, default=None, help=_DIALPLANS_HELP)
    c = sub.add_parser("check-config", help="validate the config and the dialplans; print every problem")
    c.add_argument("--config", type=Path, default=Path("config"))
    c.add_argument("--dialplans", type=Path, default=None, help=_DIALPLANS_HELP)
    sub.add_parser("version", help="print the version")
    _add_explain(sub)
    args = p.parse_args(argv)

    if args.cmd == "version":
        print(__version__)
        return 0
    from pbx.config import ConfigError, load_config

    if args.cmd == "explain":
        return _explain(args)
    if args.cmd == "check-config":
        from pbx.dialplan import default_dialplan_dir, load_optional_dialplans

        dialplans = args.dialplans if args.dialplans is not None else default_dialplan_dir(args.config)
        try:
            plan = load_optional_dialplans(dialplans, load_config(args.config))
        except ConfigError as e:
            print(str(e), file=sys.stderr)
            return 1
        print(f"{args.config}: ok" + (f"; {dialplans}: ok" if plan is not None else f"; no {dialplans}"))
        return 0
    from pbx.app import run

    try:
        run(args.config, args.data, args.dialplans)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


def _add_explain(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    e = sub.add_parser("explain", help="say which dialplan rule a dialled number hits, and why")
    e.add_argument("--from", dest="caller", help="calling user extension or device name")
    e.add_argument("--dial", required=True, help="the dialled string")
    e.add_argument("--at", help="wall-clock time, e.g. '2026-11-22 18:05' (default: now)")
    e.add_argument("--context", help="start in this context instead of the caller's")
    e.add_argument("--config", type=Path, default=Path("config"))
    e.add_argument("--dialplans", type=Path, default=Path("dialplans"))
    e.add_argument("--json", action="store_true", help="machine-readable output")


def _explain(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime

    from pbx.clock import SystemClock
    from pbx.config import ConfigError, load_config
    from pbx.dialplan import load_dialplans
    from pbx.dialplan.explain import explain, parse_at, render_json, render_text

    try:
        wall = parse_at(args.at) if args.at else datetime.fromtimestamp(SystemClock().wall()).astimezone()
    except ValueError as e:
        print(f"pbx explain: --at: {e}", file=sys.stderr)
        return 2
    try:
        plan = load_dialplans(args.dialplans, load_config(args.config))
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    decision = explain(plan, args.dial, wall, args.caller, args.context)
    if args.json:
        print(json.dumps(render_json(plan, decision), indent=2))
    else:
        print(render_text(plan, decision), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
