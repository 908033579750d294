"""Hotdesking on the wire: *35*<ext>*<pin> from a phone, the spoken confirmation in the RTP it
received, the session in the API, calls for the user ringing that phone, and a restart keeping it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import REPO, Pbx, free_port, password_of, sipp, start_sipp, write_users_csv
from media_ua import MediaUA
from test_calls_wire import register_callee

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


def test_sipp_dials_star35_ext_and_keys_the_pin_from_its_rfc2833_captures(tmp_path: Path) -> None:
    """The interactive form from a SIPp phone: `*35*1023`, the PBX asks for the PIN, SIPp replays
    its RFC 4733 captures of 1, 0, 2, 3 and # (dtmf_1023_uac.xml), the PBX logs 1023 in on the
    calling device and hangs up after the confirmation."""
    if not Path("/usr/share/sip-tester/dtmf_2833_pound.pcap").exists():
        pytest.skip("SIPp's DTMF captures are not installed (Debian sip-tester ships them)")
    pbx = Pbx(tmp_path / "pbx", users=24)  # 1000..1023; gen-config: PIN = the extension
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    pbx.start()
    try:
        res = sipp(
            "dtmf_1023_uac", pbx.sip_addr, inf=write_users_csv(tmp_path / "caller.csv", ["1000"]),
            calls=1, rate=1, workdir=tmp_path, keys={"callee": "*35*1023"}, timeout=40,
        )  # fmt: skip
        assert res.clean and res.successful == 1, res.explain() + pbx.log(30)
        assert sessions(pbx) == [("1023", "1000")]
        assert '"event": "hotdesk_login"' in pbx.log_file.read_text(errors="replace"), pbx.log(30)
    finally:
        pbx.stop()


def test_identity_switch_on_one_phone_calls_out_as_the_last_login(hd_pbx: Pbx, tmp_path: Path) -> None:
    """Hot identity switch: `*35*1001*<pin>` then `*35*1002*<pin>` on phone 1000; the second login
    replaces the first there, and the phone's next call presents 1002 (a SIPp phone of 1001's
    receives it)."""
    star35(hd_pbx, "1000", "*35*1001*1001")
    assert sessions(hd_pbx) == [("1001", "1000")]
    heard = star35(hd_pbx, "1000", "*35*1002*1002")
    assert heard.startswith(prompt("logged_in_as", "num_1", "num_0", "num_0", "num_2"))
    assert sessions(hd_pbx) == [("1002", "1000")]  # 1001 is no longer on this phone
    port = free_port()
    csv = register_callee(hd_pbx, tmp_path, port, user="1001")  # 1001's own phone (fixed user)
    callee = start_sipp("call_uas", hd_pbx.sip_addr, inf=csv, calls=1, workdir=tmp_path, local_port=port,
                        timeout=30, name="callee", trace_msg=True)  # fmt: skip
    u = MediaUA("1000", password_of("1000"), hd_pbx.sip_addr)
    try:
        u.call("1001")
        u.hang_up()
        result = callee.wait(timeout=15)
    finally:
        u.close()
        if callee.running():
            callee.stop()
    assert result.successful == 1, result.explain() + hd_pbx.log(20)
    invite = next(m for m in callee.messages().split("\n\n") if "INVITE sip:" in m)
    assert re.search(r"^From: .*<sip:1002@", invite, re.M), invite  # the phone called as 1002
