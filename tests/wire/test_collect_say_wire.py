"""`collect`, `say_digits` and `say_number` on the wire: a recording UA (media_ua.py) calls the
daemon, keys digits as RFC 4733 events, and compares the RTP it gets with the prompt files byte
for byte: the PBX reacts to exactly the keyed digits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import REPO, Pbx, password_of, sipp, write_users_csv
from media_ua import MediaUA, RtpIn

PLAN = """\
default:
  - {match: {exact: "710"}, collect: {prompt: enter_extension, min: 3, max: 4, next: readback, failed: sorry}}
  - {match: {exact: "711"}, say_number: "${CALLERID:-3}"}
  - {match: {exact: "712"}, say_digits: "${CALLERID}"}
  - {match: {exact: "713"}, collect: {prompt: enter_extension, min: 3, max: 8, next: keyed}}
keyed:
  - {match: {prefix: ""}, announcement: goodbye}
readback:
  - {match: {prefix: ""}, say_digits: {value: "${COLLECTED}", next: as-number}}
as-number:
  - {match: {pattern: _XXX}, say_number: "${EXTEN}"}
  - {match: {prefix: ""}, announcement: invalid}
sorry:
  - {match: {prefix: ""}, announcement: goodbye}
"""
NL = REPO / "sounds" / "nl"


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    work = tmp_path_factory.mktemp("collect")
    p = Pbx(work / "pbx", users=3)
    (p.workdir / "dialplans").mkdir(exist_ok=True)
    (p.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    p.start()
    yield p
    p.stop()


def prompts(*names: str) -> bytes:
    return b"".join((NL / f"{n}.ul").read_bytes() for n in names)


def heard(pkts: list[RtpIn]) -> bytes:
    return b"".join(p.payload for p in pkts)


def test_collect_takes_exactly_the_keyed_digits_and_says_them_back(pbx: Pbx) -> None:
    u = MediaUA("1000", password_of("1000"), pbx.sip_addr)
    try:
        u.call("710")
        assert u.media_port
        u.record_for(0.4)  # the prompt starts; the first key cuts it short
        assert u.received, "no prompt before the keys"
        for key in "427#":
            u.send_rfc4733(key)
            u.record_for(0.15)
        pkts = u.record_until_bye(timeout=30)
    finally:
        u.close()
    audio = heard(pkts)
    # say_digits is one play: the three prompts back to back, byte for byte (the prompt files
    # start and end in silence, so the whole sequence is searched for, not its first bytes)
    digits = prompts("num_4", "num_2", "num_7")
    at = audio.find(digits)
    assert at >= 0, f"the digits 4 2 7 were not said back\n{pbx.log(20)}"
    number = prompts("num_4", "hundred", "num_7", "and", "num_20")  # then 427 as a number (nl)
    assert number in audio[at + len(digits) :], "427 was not said as a number after the digits"
    assert u.bye is not None  # and then the PBX hung up


def test_too_few_digits_on_every_try_goes_to_the_failed_branch(pbx: Pbx) -> None:
    u = MediaUA("1001", password_of("1001"), pbx.sip_addr)
    try:
        u.call("710")
        for _ in range(3):  # min is 3: "1#" fails each time
            u.record_for(0.3)
            u.send_rfc4733("1")
            u.record_for(0.1)
            u.send_rfc4733("#")
            u.record_for(3.5)  # "please try again" (not interruptible), then the prompt again
        pkts = u.record_until_bye(timeout=30)
    finally:
        u.close()
    goodbye = prompts("goodbye")
    audio = heard(pkts)
    assert goodbye in audio, f"the failed branch's goodbye was not heard\n{pbx.log(20)}"
    assert audio.count(prompts("please_try_again")) == 2  # tries 1 and 2 failed, then `failed`


@pytest.mark.parametrize(
    ("number", "names"), [("711", ("num_2",)), ("712", ("num_1", "num_0", "num_0", "num_2"))]
)
def test_say_number_and_say_digits_of_the_callers_number_byte_exact(
    pbx: Pbx, number: str, names: tuple[str, ...]
) -> None:
    u = MediaUA("1002", password_of("1002"), pbx.sip_addr)
    try:
        u.call(number)
        pkts = u.record_until_bye(timeout=30)
    finally:
        u.close()
    # 711: the last three of 1002 -> "002" -> 2 ("twee", nl); 712: digit by digit
    want = prompts(*names)
    audio = heard(pkts)
    assert audio[: len(want)] == want, pbx.log(20)
    assert set(audio[len(want) :]) <= {0xFF}  # then silence padding of the last frame


def test_sipp_keys_a_collect_from_its_rfc2833_captures(pbx: Pbx, tmp_path: Path) -> None:
    """SIPp replays its RFC 4733 captures of 1 0 2 3 # into `collect` (dtmf_1023_uac.xml): the
    collected digits, exactly 1023, become the number routed in the `next` context."""
    if not Path("/usr/share/sip-tester/dtmf_2833_pound.pcap").exists():
        pytest.skip("SIPp's DTMF captures are not installed (Debian sip-tester ships them)")
    res = sipp(
        "dtmf_1023_uac", pbx.sip_addr, inf=write_users_csv(tmp_path / "caller.csv", ["1002"]),
        calls=1, rate=1, workdir=tmp_path, keys={"callee": "713"}, timeout=40,
    )  # fmt: skip
    assert res.clean and res.successful == 1, res.explain() + pbx.log(30)
    text = pbx.log_file.read_text(errors="replace")
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    gotos = [x for x in lines if x.get("event") == "app_call_goto" and x.get("context") == "keyed"]
    assert [g["dialled"] for g in gotos] == ["1023"], pbx.log(30)
