"""Fixtures for the wire tests: real SIP peers against the real daemon, over loopback only.

The whole directory is skipped (with the reason) unless
- the tests run in a network namespace whose only interface is `lo`
  (run them as `scripts/in-netns .venv/bin/pytest tests/wire`, as the Makefile does), and
- `sipp` is installed (Debian package `sip-tester`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Pbx, interfaces, only_loopback, which

WIRE_DIR = Path(__file__).resolve().parent


def _skip_reason() -> str | None:
    if not only_loopback():
        return (
            "wire tests need a network namespace with only loopback "
            f"(interfaces here: {', '.join(interfaces())}); run: scripts/in-netns .venv/bin/pytest tests/wire"
        )
    if which("sipp") is None:
        return "wire tests need SIPp: apt-get install sip-tester"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    for item in items:
        if WIRE_DIR not in Path(str(item.path)).resolve().parents:
            continue
        item.add_marker(pytest.mark.wire)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def pbx_factory(tmp_path: Path) -> Iterator[Callable[..., Pbx]]:
    """make(users=N, ban_after=..., rps=..., start=True) -> a running Pbx; all stopped at teardown.

    Without ban_after / rps the generated config keeps gen-config's defaults (auth-failure bans
    on, request rate limit off).
    """
    made: list[Pbx] = []

    def make(users: int = 10, *, start: bool = True, name: str = "pbx", **kwargs: Any) -> Pbx:
        pbx = Pbx(tmp_path / f"{name}{len(made)}", users=users, **kwargs)
        made.append(pbx)
        if start:
            pbx.start()
        return pbx

    yield make
    for pbx in made:
        pbx.stop()


@pytest.fixture
def pbx(pbx_factory: Callable[..., Pbx]) -> Pbx:
    """A running PBX with 10 users (1000-1009, passwords pw1000...)."""
    return pbx_factory(10)
