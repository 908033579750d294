"""Feature codes and IVR from a real softphone: baresip 1.0.0 against the running daemon.

One daemon serves the module (gen-config with 5 users, plus):
- `hotdesk: {owner_by_name: false}`: devices 1000-1002 have nobody on them until someone logs in
  with *35 (so an idle phone may call only 112); devices 1003 and 1004 have a fixed user
  (`devices[].user`), so they can call anyone;
- a trunk `carrier` to a SIPp UAS on a port of its own, which 112 is routed to;
- the dialplan below (hotdesk, queue login, pause, an IVR menu, a number entry, extensions).

The phones are baresip processes (their own config dir, ctrl_tcp, started and stopped by PID,
see baresip_kit.py). What baresip receives is recorded by its `sndfile` module (decoded 16-bit
PCM, 8 kHz); the recordings are compared with the prompt files decoded. Measured: baresip's
G.711 decoder differs from ours by at most 2 per sample (0xFF decodes to 2, not 0), and the
last 100-200 ms of a prompt are missing from a recording when the PBX hangs up right after it
(still in baresip's jitter buffer, at most 10 frames, when the BYE closes the call; measured:
4-5 frames, all of them the prompts' own trailing silence), so a prompt counts as heard when it
is found within 4 per sample, from its first sample, for all but its last 12 frames.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from baresip_kit import Baresip, find_baresip, wav_samples
from harness import REPO, Pbx, free_port, start_sipp, wait_until, write_users_csv

from pbx.media.g711 import ulaw_decode

PLAN = """\
default:
  - {match: {exact: "112"}, trunk: {name: carrier}}
  - {match: {pattern: "_*35!"}, feature: hotdesk}
  - {match: {pattern: "_*45!"}, feature: queue_login}
  - {match: {pattern: "_*46!"}, feature: pause}
  - {match: {exact: "501"}, ivr: {prompt: welcome, options: {"2": info}}}
  - {match: {exact: "502"}, number_entry: {prompt: enter_number, min: 4, max: 4}}
  - {match: {pattern: _10XX}, ring_user: "${EXTEN}"}
info:
  - {match: {prefix: ""}, announcement: closed}
"""

DEVICES = """\
devices:
  - {username: "1000", password: "pw1000"}
  - {username: "1001", password: "pw1001"}
  - {username: "1002", password: "pw1002"}
  - {username: "1003", password: "pw1003", user: "1003"}
  - {username: "1004", password: "pw1004", user: "1004"}
"""

# the carrier behind the trunk: answers what the PBX sends out, checks it is 112
CARRIER = """\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier_112">
  <recv request="INVITE">
    <action>
      <ereg regexp="^INVITE sip:112@" search_in="msg" check_it="true" assign_to="ruri"/>
    </action>
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <Reference variables="ruri"/>
</scenario>
"""

NL = REPO / "sounds" / "nl"
RATE = 8000
TOLERANCE = 4  # per sample, between baresip's G.711 decoder and ours
TAIL_LOST = 12 * 160  # what a hang-up right after a prompt may cut from a recording


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@dataclass
class Setup:
    pbx: Pbx
    carrier_port: int
    binary: str
    modules: str
    record: bool  # sndfile is there: recordings can be checked

    def phone(self, workdir: Path, device: str, **kwargs: Any) -> Baresip:
        return Baresip(workdir, device, self.pbx, self.modules, record=self.record, **kwargs)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    binary, modules, why = find_baresip()
    if binary is None or modules is None:
        pytest.skip(why)
    record = find_baresip("sndfile")[1] is not None
    work = tmp_path_factory.mktemp("baresip-features")
    carrier_port = free_port()
    pbx = Pbx(work / "pbx", users=5)
    with (pbx.config_dir / "pbx.yaml").open("a") as f:
        f.write("hotdesk:\n  owner_by_name: false\n")
    (pbx.config_dir / "devices.yaml").write_text(DEVICES)
    (pbx.config_dir / "trunks.yaml").write_text(
        f'trunks:\n  - {{name: carrier, host: "127.0.0.1", port: {carrier_port}, transport: udp}}\n'
    )
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    pbx.start()
    yield Setup(pbx, carrier_port, binary, modules, record)
    rc = pbx.stop()
    assert rc == 0, f"the daemon did not stop cleanly ({rc})\n{pbx.log()}"
    errors = [r for r in log_records(pbx, 0) if r.get("level") in ("error", "critical")]
    assert errors == [], errors


@pytest.fixture
def phones(setup: Setup) -> Iterator[list[Baresip]]:
    """Phones a test starts go in this list; all are stopped (quit, then by PID) at teardown.
    What they saw and the test's part of the daemon's log are printed then: pytest shows it
    ("Captured stdout teardown") when the test failed."""
    started: list[Baresip] = []
    since = log_size(setup.pbx)
    yield started
    for phone in started:
        phone.stop()
    for phone in started:
        print(phone.detail())
    with setup.pbx.log_file.open("rb") as f:
        f.seek(since)
        print("--- PBX log of this test:\n" + "\n".join(f.read().decode(errors="replace").splitlines()[-80:]))


def start_phone(setup: Setup, phones: list[Baresip], workdir: Path, device: str, **kw: Any) -> Baresip:
    phone = setup.phone(workdir, device, **kw)
    phones.append(phone)
    phone.start(setup.binary)
    phone.wait_registered()
    return phone


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def log_records(pbx: Pbx, since: int) -> list[dict[str, Any]]:
    """The daemon's JSON log records written after byte `since`."""
    with pbx.log_file.open("rb") as f:
        f.seek(since)
        lines = f.read().decode(errors="replace").splitlines()
    out = []
    for line in lines:
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def log_size(pbx: Pbx) -> int:
    return pbx.log_file.stat().st_size


def wait_log(pbx: Pbx, since: int, event: str, what: str, timeout: float = 15.0) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((r for r in log_records(pbx, since) if r.get("event") == event), None)

    return pbx.wait_for(found, what, timeout)


def prompt_pcm(*names: str) -> list[int]:
    return list(ulaw_decode(b"".join((NL / f"{n}.ul").read_bytes() for n in names)))


def find_prompt(heard: list[int], said: list[int]) -> int | None:
    """Where `said` starts in `heard` (each sample within TOLERANCE), counting it as heard when
    it matches from its first sample up to its end or the end of the recording, and at most its
    last TAIL_LOST samples are missing. None: not heard."""
    anchor = next(i for i, s in enumerate(said) if abs(s) > 1000)  # the first loud sample
    need = len(said) - TAIL_LOST
    for p in range(anchor, len(heard)):
        if abs(heard[p] - said[anchor]) > TOLERANCE:
            continue
        start = p - anchor
        n = min(len(said), len(heard) - start)
        if n < need:
            return None  # later starts are even shorter
        if all(abs(heard[start + i] - said[i]) <= TOLERANCE for i in range(n)):
            return start
    return None


def recording(phone: Baresip, since: int = 0) -> list[int]:
    """The samples of the phone's newest recording made after `since` recordings."""
    recs = wait_until(lambda: phone.recordings()[since:] or None, 5, f"a recording at baresip {phone.name}")
    rate, samples = wav_samples(recs[-1])
    assert rate == RATE, f"{recs[-1]}: {rate} Hz"
    return samples


def call_to_pbx_app(phone: Baresip, number: str) -> int:
    """Dial a number the PBX answers itself; returns the events mark of the call."""
    mark = phone.mark()
    phone.dial(number)
    phone.wait_event("CALL_ESTABLISHED", since=mark)
    return mark


def hotdesk_sessions(pbx: Pbx) -> list[tuple[str, str]]:
    return sorted((s["user"], s["device"]) for s in pbx.api("/api/hotdesk")["sessions"])


def star35(setup: Setup, phone: Baresip, code: str, expect: list[tuple[str, str]]) -> list[int] | None:
    """Dial a hotdesk code, wait for the PBX to hang up after its confirmation and for the
    API to show the sessions `expect`; returns what the phone heard (None without sndfile)."""
    recs = len(phone.recordings())
    mark = call_to_pbx_app(phone, code)
    phone.wait_event("CALL_CLOSED", timeout=20, since=mark)  # the PBX hangs up after speaking
    setup.pbx.wait_for(lambda: hotdesk_sessions(setup.pbx) == expect or None, f"hotdesk sessions {expect}")
    return recording(phone, recs) if setup.record else None


_runs = itertools.count()


def ring(setup: Setup, workdir: Path, callee: str, caller: str = "1004") -> None:
    """A SIPp caller (device 1004, fixed user) calls `callee`, and cancels on the 180; fails
    unless some phone rang."""
    pbx = setup.pbx
    csv = write_users_csv(workdir / f"caller-{caller}.csv", [caller])
    run = start_sipp(
        "call_cancel_uac", pbx.sip_addr, inf=csv, calls=1, workdir=workdir, keys={"callee": callee},
        timeout=15, name=f"ring-{callee}-{next(_runs)}",
    )  # fmt: skip
    res = run.wait()
    assert res.clean and res.successful == 1, res.explain() + "\n--- PBX:\n" + pbx.log(30)


# --------------------------------------------------------------------------------------------
# 1. hotdesking (issue 6)
# --------------------------------------------------------------------------------------------
def test_hotdesk_login_rings_moves_and_idle_phone_calls_only_112(
    setup: Setup, phones: list[Baresip], tmp_path: Path
) -> None:
    pbx = setup.pbx
    desk = start_phone(setup, phones, tmp_path, "1000")
    other = start_phone(setup, phones, tmp_path, "1001")

    # *35*1002*1002 on device 1000: logged in, said "u bent aangemeld als 1 0 0 2"
    heard = star35(setup, desk, "*35*1002*1002", [("1002", "1000")])
    if heard is not None:  # sndfile: the confirmation itself, sample by sample
        said = prompt_pcm("logged_in_as", "num_1", "num_0", "num_0", "num_2")
        at = find_prompt(heard, said)
        assert at is not None, f"the confirmation was not heard ({len(heard)} samples)\n{pbx.log(20)}"

    # presence follows the phone: 1002 is present (on 1000); 1000 and 1001 own no phone
    present = pbx.users_present()
    assert present["1002"] and not present["1000"] and not present["1001"], present

    # a call for 1002 rings the baresip on device 1000 (the SIPp caller cancels on its 180)
    mark_desk, mark_other = desk.mark(), other.mark()
    ring(setup, tmp_path, "1002")
    incoming = desk.wait_event("CALL_INCOMING", since=mark_desk)
    assert "1004" in str(incoming.get("peeruri")), incoming
    desk.wait_event("CALL_CLOSED", since=mark_desk)  # the CANCEL reached it
    assert "CALL_INCOMING" not in other.event_types(mark_other), other.detail()

    # and device 1000 calls as 1002: a phone it calls shows User 1002 (From, display name)
    callee = start_phone(setup, phones, tmp_path, "1003")
    mark_desk, mark_callee = desk.mark(), callee.mark()
    desk.dial("1003")
    incoming = callee.wait_event("CALL_INCOMING", since=mark_callee)
    assert "sip:1002@" in str(incoming.get("peeruri")), incoming
    assert incoming.get("peerdisplayname") == "User 1002", incoming
    desk.command("hangup")  # CANCEL while it rings
    callee.wait_event("CALL_CLOSED", since=mark_callee)
    desk.wait_event("CALL_CLOSED", since=mark_desk)

    # 1002 logs in on device 1001: 1000 is vacated, a call for 1002 now rings 1001 only
    star35(setup, other, "*35*1002*1002", [("1002", "1001")])
    mark_desk, mark_other = desk.mark(), other.mark()
    ring(setup, tmp_path, "1002")
    other.wait_event("CALL_INCOMING", since=mark_other)
    other.wait_event("CALL_CLOSED", since=mark_other)
    assert "CALL_INCOMING" not in desk.event_types(mark_desk), desk.detail()

    # device 1000 has nobody now (no owner: owner_by_name is off): 112 goes out to the carrier...
    scenario = tmp_path / "carrier_112.xml"
    scenario.write_text(CARRIER)
    carrier = start_sipp(
        scenario, pbx.sip_addr, inf=write_users_csv(tmp_path / "carrier.csv", ["carrier"]), calls=1,
        workdir=tmp_path, local_port=setup.carrier_port, timeout=30, name="carrier", trace_msg=True,
    )  # fmt: skip
    try:
        mark = desk.mark()
        desk.dial("112")
        desk.wait_event("CALL_ESTABLISHED", since=mark)
        desk.command("hangup")
        desk.wait_event("CALL_CLOSED", since=mark)
        wait_until(lambda: not carrier.running(), 10, "the carrier SIPp to finish")
        far = carrier.wait(timeout=1)
    finally:
        if carrier.running():
            carrier.stop()
    assert far.successful == 1 and far.failed == 0, f"{far.explain()}\n{carrier.messages()[-2000:]}"

    # ...and anything else is refused: 403 Not Logged In
    for number in ("1003", "0534801234"):
        mark = desk.mark()
        desk.dial(number)
        closed = desk.wait_event("CALL_CLOSED", since=mark)
        assert "403 Not Logged In" in str(closed.get("param")), (closed, desk.detail())
        assert "CALL_ESTABLISHED" not in desk.event_types(mark)


# --------------------------------------------------------------------------------------------
# 2. IVR and number entry by RFC 4733 DTMF (issue 5)
# --------------------------------------------------------------------------------------------
def test_ivr_key_2_by_rfc4733_plays_the_info_branch(
    setup: Setup, phones: list[Baresip], tmp_path: Path
) -> None:
    pbx = setup.pbx
    phone = start_phone(setup, phones, tmp_path, "1004")
    since, recs = log_size(pbx), len(phone.recordings())
    mark = call_to_pbx_app(phone, "501")
    phone.wait_event("CALL_RTPESTAB", since=mark)  # the menu prompt is playing
    phone.command("sndcode", "2")  # RFC 4733 telephone-event (baresip's default)
    goto = wait_log(pbx, since, "app_call_goto", "the IVR to follow key 2")
    assert goto["context"] == "info" and goto["action"] == "Announcement", goto
    phone.wait_event("CALL_CLOSED", timeout=20, since=mark)  # the PBX hangs up after "closed"
    digits = [r["digit"] for r in log_records(pbx, since) if r.get("event") == "app_call_digit"]
    assert digits == ["2"], digits  # one key press is one digit (redundant end packets once)
    if setup.record:
        heard = recording(phone, recs)
        assert find_prompt(heard, prompt_pcm("closed")) is not None, "the 'closed' prompt was not heard"


def test_number_entry_takes_1234_by_rfc4733(setup: Setup, phones: list[Baresip], tmp_path: Path) -> None:
    pbx = setup.pbx
    phone = start_phone(setup, phones, tmp_path, "1004", name="1004-entry")
    since = log_size(pbx)
    mark = call_to_pbx_app(phone, "502")
    phone.wait_event("CALL_RTPESTAB", since=mark)
    phone.command("sndcode", "1234#")
    data = wait_log(pbx, since, "app_call_data", "the number entry's data")
    assert data["key"] == "number_entry" and data["value"] == {"digits": "1234", "valid": True}, data
    phone.command("hangup")
    phone.wait_event("CALL_CLOSED", since=mark)


# --------------------------------------------------------------------------------------------
# 3. queue feature codes (issue 7)
# --------------------------------------------------------------------------------------------
def test_queue_login_and_pause_toggle_by_feature_code(
    setup: Setup, phones: list[Baresip], tmp_path: Path
) -> None:
    pbx = setup.pbx
    agent = start_phone(setup, phones, tmp_path, "1003")  # fixed user 1003, member of "bench"

    def status(want: str | None = None) -> str | None:
        now = str(pbx.api("/api/agents/1003")["status"])
        return now if want is None or now == want else None

    assert status() == "logged_out"
    steps = (("*45", "available", "logged_in_to_queue"), ("*46", "paused", "paused"),
             ("*46", "available", "available"))  # fmt: skip
    for code, want, said in steps:
        recs = len(agent.recordings())
        mark = call_to_pbx_app(agent, code)
        agent.wait_event("CALL_CLOSED", timeout=20, since=mark)  # spoken answer, then BYE
        pbx.wait_for(functools.partial(status, want), f"agent 1003 {want} after {code}")
        # sndfile names its files by the second: these calls last more than one second each
        if setup.record:
            heard = recording(agent, recs)
            assert find_prompt(heard, prompt_pcm(said)) == 0, f"{code}: '{said}' was not heard"
    a = pbx.api("/api/agents/1003")
    assert "bench" in str(a), a
