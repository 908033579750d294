"""Trunks on the wire: a SIPp "carrier" on its own port, the real PBX daemon, SIPp phones.

Out: user 1000 dials a national number; the dialplan rewrites it to E.164 and sends it to the
carrier, which challenges the INVITE (401) and checks the PBX's digest (SIPp verifyauth), the
Request-URI and the caller ID in From and P-Asserted-Identity (1000's default number, or the
number picked with the *7<n>* prefix). In: the carrier calls a DID from the trunk's address; the
dialplan's from-trunk context rings the user, whose phone sees the outside caller's number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import SCENARIOS, Pbx, free_port, sipp, start_sipp, wait_until, write_users_csv
from test_calls_wire import register_callee

USERS = """\
users:
  - {extension: "1000", name: "User 1000", pin: "1000", numbers: ["+31534801000", "+31534809999"],
     default_number: "+31534801000"}
  - {extension: "1001", name: "User 1001", pin: "1001"}
  - {extension: "1002", name: "User 1002", pin: "1002"}
"""

DIALPLAN = """\
default:
  - name: internal
    match: {pattern: _10XX}
    ring_user: "${EXTEN}"
  - name: national
    match: {pattern: _0ZXXXXXXXX}
    trunk: {name: carrier, strip: 1, prepend: "+31"}
from-trunk:
  - name: direct dial-in
    match: {regex: '\\+3153480(1[0-9]{3})'}
    ring_user: "${1}"
"""


def trunks(port: int) -> str:
    return f"""\
trunks:
  - name: carrier
    host: "127.0.0.1"
    port: {port}
    username: acct
    password: trunkpw
    inbound_digest: true
    prefixes: ["0"]
"""


@pytest.fixture(scope="module")
def trunk_pbx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pbx, int]:
    work = tmp_path_factory.mktemp("trunks")
    carrier_port = free_port()
    pbx = Pbx(work / "pbx", users=3)
    (pbx.config_dir / "users.yaml").write_text(USERS)
    (pbx.config_dir / "trunks.yaml").write_text(trunks(carrier_port))
    plans = pbx.workdir / "dialplans"  # next to the config directory: the daemon's default
    plans.mkdir(exist_ok=True)
    (plans / "default.yaml").write_text(DIALPLAN)
    pbx.start()
    yield pbx, carrier_port
    pbx.stop()


def carrier_scenario(workdir: Path, number: str, presented: str) -> Path:
    text = (SCENARIOS / "trunk_carrier_uas.xml").read_text()
    out = workdir / f"carrier-{presented.lstrip('+')}.xml"
    out.write_text(text.replace("[number]", number).replace("[presented]", presented))
    return out


@pytest.mark.parametrize(
    ("dialled", "presented"),
    [("0534801234", "+31534801000"), ("*72*0534801234", "+31534809999")],
    ids=["default caller ID", "caller ID picked with *72*"],
)
def test_call_out_through_the_carrier(
    trunk_pbx: tuple[Pbx, int], tmp_path: Path, dialled: str, presented: str
) -> None:
    pbx, port = trunk_pbx
    calls = 3
    carrier = start_sipp(
        carrier_scenario(tmp_path, "+31534801234", presented), pbx.sip_addr,
        inf=write_users_csv(tmp_path / "carrier.csv", ["carrier"]), calls=calls, workdir=tmp_path,
        local_port=port, timeout=40, trace_msg=True, name="carrier",
    )  # fmt: skip
    try:
        uac = sipp(
            "call_uac", pbx.sip_addr, inf=write_users_csv(tmp_path / "caller.csv", ["1000"]), calls=calls,
            rate=5, workdir=tmp_path, keys={"callee": dialled}, timeout=30, extra=["-d", "100"],
        )  # fmt: skip
        wait_until(lambda: not carrier.running(), 10, "the carrier SIPp to finish")
        far = carrier.wait(timeout=1)
    finally:
        if carrier.running():
            carrier.stop()
    detail = f"{uac.explain()}\n--- carrier:\n{far.explain()}\n{carrier.messages()[-3000:]}\n{pbx.log(30)}"
    assert uac.clean and uac.successful == calls, detail
    assert far.successful == calls and far.failed == 0, detail


def test_call_in_from_the_carrier_by_did(trunk_pbx: tuple[Pbx, int], tmp_path: Path) -> None:
    pbx, carrier_port = trunk_pbx
    calls = 3
    phone_port = free_port()
    callee_csv = register_callee(pbx, tmp_path, phone_port, user="1002")
    phone = start_sipp(
        "trunk_callee_uas", pbx.sip_addr, inf=callee_csv, calls=calls, workdir=tmp_path,
        local_port=phone_port, timeout=40, name="phone",
    )  # fmt: skip
    try:
        carrier = sipp(
            "trunk_carrier_uac", pbx.sip_addr, inf=write_users_csv(tmp_path / "carrier.csv", ["carrier"]),
            calls=calls, rate=5, workdir=tmp_path, local_port=carrier_port, keys={"did": "+31534801002"},
            timeout=30, extra=["-d", "100"],
        )  # fmt: skip
        wait_until(lambda: not phone.running(), 10, "the phone SIPp to finish")
        callee = phone.wait(timeout=1)
    finally:
        if phone.running():
            phone.stop()
    detail = f"{carrier.explain()}\n--- phone:\n{callee.explain()}\n{pbx.log(30)}"
    assert carrier.clean and carrier.successful == calls, detail
    assert callee.successful == calls and callee.failed == 0, detail


def test_call_in_from_another_address_recognised_by_the_trunks_digest(
    trunk_pbx: tuple[Pbx, int], tmp_path: Path
) -> None:
    """inbound_digest: the carrier calls from an address that is not the trunk's, answers the 407
    with the trunk's credentials (acct / trunkpw), and the call is routed by DID as the trunk's."""
    pbx, _ = trunk_pbx
    phone_port = free_port()
    callee_csv = register_callee(pbx, tmp_path, phone_port, user="1001")
    phone = start_sipp(
        "call_uas", pbx.sip_addr, inf=callee_csv, calls=1, workdir=tmp_path,
        local_port=phone_port, timeout=40, name="phone", trace_msg=True,
    )  # fmt: skip
    acct = write_users_csv(tmp_path / "acct.csv", ["acct"], lambda _: "trunkpw")
    try:
        carrier = sipp(
            "call_uac", pbx.sip_addr, inf=acct, calls=1, rate=1, workdir=tmp_path,
            keys={"callee": "+31534801001"}, timeout=30, extra=["-d", "100"],
        )  # fmt: skip
        wait_until(lambda: not phone.running(), 10, "the phone SIPp to finish")
        callee = phone.wait(timeout=1)
    finally:
        if phone.running():
            phone.stop()
    detail = f"{carrier.explain()}\n--- phone:\n{callee.explain()}\n{pbx.log(30)}"
    assert carrier.clean and carrier.successful == 1, detail
    assert callee.successful == 1 and callee.failed == 0, detail
    records = log_records(pbx)
    started = [r for r in records if r.get("event") == "call_started" and r.get("dialled") == "+31534801001"]
    assert [(r.get("caller"), r.get("trunk")) for r in started] == [("trunk:carrier", "carrier")], detail


def log_records(pbx: Pbx) -> list[dict[str, object]]:
    return [json.loads(x) for x in pbx.log_file.read_text(errors="replace").splitlines() if x.startswith("{")]


def test_unknown_did_is_refused_and_never_sent_back_out(trunk_pbx: tuple[Pbx, int], tmp_path: Path) -> None:
    pbx, carrier_port = trunk_pbx
    res = sipp(
        "trunk_carrier_uac", pbx.sip_addr, inf=write_users_csv(tmp_path / "carrier.csv", ["carrier"]),
        calls=1, rate=5, workdir=tmp_path, local_port=carrier_port, keys={"did": "0534801234"}, timeout=15,
    )  # fmt: skip
    # 404 from the PBX (from-trunk has no rule for it); the scenario expects 180, so the call fails
    assert res.failed == 1 and res.successful == 0, res.explain()
    assert "404" in res.error_file.read_text(errors="replace") if res.error_file.exists() else True
