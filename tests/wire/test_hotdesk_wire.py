"""Hotdesking on the wire: *35*<ext>*<pin> from a phone, the spoken confirmation in the RTP it
received, the session in the API, calls for the user ringing that phone, and a restart keeping it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import REPO, Pbx, password_of
from media_ua import MediaUA

PLAN = """\
default:
  - {match: {pattern: "_*35!"}, feature: hotdesk}
  - {match: {pattern: _10XX}, ring_user: "${EXTEN}"}
"""
NL = REPO / "sounds" / "nl"


def prompt(*names: str) -> bytes:
    return b"".join((NL / f"{n}.ul").read_bytes() for n in names)


@pytest.fixture
def hd_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    work = tmp_path_factory.mktemp("hotdesk")
    pbx = Pbx(work / "pbx", users=3)
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    pbx.start()
    yield pbx
    pbx.stop()


def star35(pbx: Pbx, device: str, code: str) -> bytes:
    u = MediaUA(device, password_of(device), pbx.sip_addr)
    try:
        u.call(code)
        pkts = u.record_until_bye(timeout=30)
    finally:
        u.close()
    assert u.bye is not None, "the PBX did not hang up after the confirmation"
    return b"".join(p.payload for p in pkts)


def sessions(pbx: Pbx) -> list[tuple[str, str]]:
    return [(s["user"], s["device"]) for s in pbx.api("/api/hotdesk")["sessions"]]


def test_one_shot_login_confirmation_api_restart_and_logout(hd_pbx: Pbx) -> None:
    heard = star35(hd_pbx, "1000", "*35*1002*1002")  # gen-config: PIN = the extension, 4 digits
    said = prompt("logged_in_as", "num_1", "num_0", "num_0", "num_2")
    assert heard[: len(said)] == said  # "u bent ingelogd als 1 0 0 2", byte for byte
    assert sessions(hd_pbx) == [("1002", "1000")]
    hd_pbx.restart()
    assert sessions(hd_pbx) == [("1002", "1000")]  # a restart keeps the session
    heard = star35(hd_pbx, "1000", "*35")  # someone is logged in here: *35 logs them out
    assert heard.startswith(prompt("logged_out"))
    assert sessions(hd_pbx) == []


def test_wrong_pin_is_refused_and_spoken(hd_pbx: Pbx) -> None:
    heard = star35(hd_pbx, "1001", "*35*1002*9999")
    assert heard.startswith(prompt("wrong_pin"))
    assert sessions(hd_pbx) == []
