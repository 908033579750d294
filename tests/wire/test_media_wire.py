"""Media on the wire: the PBX answers, plays a prompt as paced RTP, takes digits, hangs up.

A small recording UA (media_ua.py) calls the running daemon over loopback and keeps every RTP
packet, so the tests compare what it heard with the prompt files byte for byte.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import REPO, Pbx, password_of, sipp, write_users_csv
from media_ua import MediaUA, RtpIn

PLAN = """\
default:
  - {match: {exact: "500"}, announcement: welcome}
  - {match: {exact: "501"}, ivr: {prompt: welcome, options: {"2": info}}}
info:
  - {match: {prefix: ""}, announcement: closed}
"""
SOUNDS = REPO / "sounds" / "nl"


@pytest.fixture(scope="module")
def media_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    work = tmp_path_factory.mktemp("media")
    pbx = Pbx(work / "pbx", users=3)
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    pbx.start()
    yield pbx
    pbx.stop()


def ua(pbx: Pbx, user: str = "1000") -> MediaUA:
    return MediaUA(user, password_of(user), pbx.sip_addr)


def audio_of(pkts: list[RtpIn]) -> bytes:
    return b"".join(p.payload for p in pkts)


def check_stream(pkts: list[RtpIn]) -> None:
    """One talk spurt: consecutive sequence numbers, +160 timestamps, a marker on the first only."""
    assert pkts, "no RTP at all"
    for a, b in itertools.pairwise(pkts):
        assert (b.seq - a.seq) % 65536 == 1, (a.seq, b.seq)
        assert (b.ts - a.ts) % 2**32 == 160, (a.ts, b.ts)
    assert pkts[0].marker and not any(p.marker for p in pkts[1:])
    assert {p.pt for p in pkts} == {0}


def test_announcement_is_played_byte_exact_and_paced_then_the_pbx_hangs_up(media_pbx: Pbx) -> None:
    u = ua(media_pbx)
    try:
        ok = u.call("500").decode()
        port = re.search(r"m=audio (\d+) RTP/AVP 0", ok)
        assert port, ok
        pkts = u.record_until_bye(timeout=30)
    finally:
        u.close()
    prompt = (SOUNDS / "welcome.ul").read_bytes()
    check_stream(pkts)
    heard = audio_of(pkts)
    assert heard[: len(prompt)] == prompt and set(heard[len(prompt) :]) <= {0xFF}  # then silence padding
    assert len(pkts) == -(-len(prompt) // 160)
    # paced, not a burst: the packets span (almost) the prompt's own duration. Only a lower bound,
    # so a slow machine cannot fail it.
    assert pkts[-1].arrival - pkts[0].arrival >= 0.5 * (len(pkts) - 1) * 0.020
    assert u.bye is not None


def test_ivr_key_by_sip_info_plays_the_chosen_branch(media_pbx: Pbx) -> None:
    u = ua(media_pbx, "1001")
    try:
        u.call("501")
        u.record_for(0.3)  # the menu prompt starts
        u.info_digit("2")
        u.received.clear()
        pkts = u.record_until_bye(timeout=30)
    finally:
        u.close()
    closed = (SOUNDS / "closed.ul").read_bytes()
    heard = audio_of(pkts)
    start = heard.find(closed[:800])
    assert start >= 0, "the 'closed' prompt was not heard"
    assert heard[start : start + len(closed)] == closed


@pytest.mark.parametrize("method", ["rfc4733", "inband"])
def test_ivr_key_in_the_media_plays_the_chosen_branch(media_pbx: Pbx, method: str) -> None:
    u = ua(media_pbx, "1002")
    u.telephone_event = method == "rfc4733"
    try:
        u.call("501")
        assert u.media_port
        u.record_for(0.3)
        if method == "rfc4733":
            u.send_rfc4733("2")
        else:
            u.send_tone("2")
        u.received.clear()
        pkts = u.record_until_bye(timeout=30)
    finally:
        u.close()
    closed = (SOUNDS / "closed.ul").read_bytes()
    heard = audio_of(pkts)
    start = heard.find(closed[:800])
    assert start >= 0, f"the 'closed' prompt was not heard\n{media_pbx.log(20)}"
    assert heard[start : start + len(closed)] == closed


def test_caller_hangs_up_during_the_prompt_and_the_port_is_freed(media_pbx: Pbx) -> None:
    u = ua(media_pbx, "1002")
    try:
        u.call("500")
        u.record_for(0.2)
        u.hang_up()
        before = len(u.received)
        u.record_for(0.3)
    finally:
        u.close()
    assert before > 0
    assert len(u.received) - before <= 2  # at most what was in flight when the BYE came


def test_sipp_keys_an_ivr_choice_from_its_rfc2833_capture(media_pbx: Pbx, tmp_path: Path) -> None:
    pcap = Path("/usr/share/sip-tester/dtmf_2833_2.pcap")
    if not pcap.exists():
        pytest.skip("SIPp's DTMF captures are not installed (Debian sip-tester ships them)")
    before = media_pbx.log_file.read_text(errors="replace").count('"context": "info"')
    res = sipp(
        "ivr_dtmf_uac", media_pbx.sip_addr, inf=write_users_csv(tmp_path / "c.csv", ["1001"]), calls=1,
        rate=1, workdir=tmp_path, keys={"callee": "501"}, timeout=30,
    )  # fmt: skip
    assert res.clean and res.successful == 1, res.explain() + media_pbx.log(20)
    log = media_pbx.log_file.read_text(errors="replace")
    assert log.count('"context": "info"') == before + 1  # the key "2" took the caller to the info branch
