"""Calls the PBX answers itself: announcement, IVR menu (RFC 4733 / INFO digits), reaching a person.

The media shell is replaced by the test: it reads MediaOpen/MediaPlay effects from the core and
feeds PlayDone / DigitReceived back, as the real one does over RTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_call_flows import ROOT, SDP_A, SDP_B, Net, Phone

from pbx.calls import CallEnded
from pbx.config import load_config
from pbx.core import PbxCore
from pbx.dialplan import load_dialplans
from pbx.media.effects import DigitReceived, MediaClose, MediaOpen, MediaPlay, MediaStopPlay, PlayDone

PLAN = """\
default:
  - {match: {exact: "500"}, announcement: welcome}
  - {match: {exact: "501"}, ivr: {prompt: welcome, options: {"1": sales, "2": info}}}
  - {match: {pattern: _2XX}, ring_user: "${EXTEN}"}
sales:
  - {match: {prefix: ""}, ring_user: "202"}
info:
  - {match: {prefix: ""}, announcement: closed}
"""


@pytest.fixture
def net(tmp_path: Path) -> Net:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "default.yaml").write_text(PLAN)
    n = Net()
    cfg = load_config(ROOT / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(tmp_path / "plans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    return n


def effects(net: Net, kind: type) -> list:  # type: ignore[type-arg]
    found = [e for e in net.events if isinstance(e, kind)]
    net.events = [e for e in net.events if not isinstance(e, kind)]
    return found


def media(net: Net, ev: object) -> None:
    net.deliver(net.core.on_media_event(ev, net.clock.now(), net.clock.wall()))  # type: ignore[arg-type]


def answered(net: Net, a: Phone, number: str) -> tuple[object, MediaOpen]:
    inv = a.dial(number)
    ok = a.take_resp(200)
    assert b"m=audio" in ok.body and b"telephone-event" not in ok.body  # SDP_A offers PCMU only
    opened = effects(net, MediaOpen)
    assert len(opened) == 1 and opened[0].remote_port == 4000 and opened[0].payload_type == 0
    assert f"m=audio {opened[0].local_port} RTP/AVP 0".encode() in ok.body
    assert effects(net, MediaPlay) == []  # nothing plays before the ACK
    return a.ack(inv, ok), opened[0]


def test_announcement_plays_then_the_pbx_hangs_up(net: Net) -> None:
    a = Phone(net, "201", 5071)
    a.register()
    _d, opened = answered(net, a, "500")
    play = effects(net, MediaPlay)
    assert [p.prompts for p in play] == [("welcome",)]
    media(net, DigitReceived(opened.session, "5", "rfc4733"))  # not interruptible: ignored
    assert effects(net, MediaStopPlay) == []
    media(net, PlayDone(opened.session, play[0].play_id))
    bye = a.take_req("BYE")
    a.reply(bye, 200)
    assert effects(net, MediaClose) == [MediaClose(opened.session)]
    assert [e.reason for e in net.event(CallEnded)] == ["completed"]  # type: ignore[attr-defined]
    assert net.core.b2bua.ports.in_use() == 0


def test_caller_hangs_up_during_the_announcement(net: Net) -> None:
    a = Phone(net, "201", 5071)
    a.register()
    d, opened = answered(net, a, "500")
    a.request(d, "BYE")
    assert a.take_resp(200).cseq.method == "BYE"
    assert effects(net, MediaClose) == [MediaClose(opened.session)]
    assert [e.reason for e in net.event(CallEnded)] == ["caller_hangup"]  # type: ignore[attr-defined]


def test_ivr_key_reaches_a_person_who_is_then_bridged(net: Net) -> None:
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)
    a.register()
    b.register()
    d, opened = answered(net, a, "501")
    effects(net, MediaPlay)
    media(net, DigitReceived(opened.session, "1", "rfc4733"))
    assert effects(net, MediaStopPlay)
    assert [p.prompts for p in effects(net, MediaPlay)] == [("moh:default",)]  # music while it rings
    inv_b = b.take_req("INVITE")
    assert inv_b.body == b""  # delayed offer: the caller's phone has to answer it
    b.reply(inv_b, 180)
    b.reply(inv_b, 200, SDP_B)
    reinv = a.take_req("INVITE")
    assert reinv.body == SDP_B and reinv.call_id == d.call_id
    a.reply(reinv, 200, SDP_A)
    assert a.take_req("ACK") and b.take_req("ACK").body == SDP_A
    assert effects(net, MediaClose) == [MediaClose(opened.session)]
    calls = net.core.calls(net.clock.now())
    assert [c.state for c in calls] == ["answered"]
    db = b.dialog_as_callee(inv_b)
    b.request(db, "BYE")
    assert a.take_req("BYE")


def test_ivr_by_sip_info_invalid_key_then_timeouts_then_goodbye(net: Net) -> None:
    a = Phone(net, "201", 5071)
    a.register()
    d, opened = answered(net, a, "501")
    first = effects(net, MediaPlay)[0]
    info = a.request(
        d, "INFO", b"Signal=9\r\nDuration=160\r\n", (("content-type", "application/dtmf-relay"),)
    )
    assert a.take_resp(200).cseq.number == info.cseq.number
    assert effects(net, MediaStopPlay)
    replay = effects(net, MediaPlay)
    assert [p.prompts for p in replay] == [("invalid",), ("welcome",)]  # try 2
    media(net, PlayDone(opened.session, first.play_id))  # cut short by the key: changes nothing

    def finish(plays: list[MediaPlay]) -> None:
        for p in plays:
            media(net, PlayDone(opened.session, p.play_id))

    finish(replay)
    net.advance(4.9)
    assert effects(net, MediaPlay) == []  # 5 s to press a key after the prompt
    net.advance(0.2)
    again = effects(net, MediaPlay)
    assert [p.prompts for p in again] == [("please_try_again",), ("welcome",)]  # try 3
    finish(again)
    net.advance(5.1)
    bye_prompt = effects(net, MediaPlay)
    assert [p.prompts for p in bye_prompt] == [("goodbye",)]
    assert a.count("BYE") == 0  # the goodbye is heard first
    finish(bye_prompt)
    assert a.take_req("BYE")
    assert [e.reason for e in net.event(CallEnded)] == ["completed"]  # type: ignore[attr-defined]


def test_ivr_key_to_another_program(net: Net) -> None:
    a = Phone(net, "201", 5071)
    a.register()
    _d, opened = answered(net, a, "501")
    effects(net, MediaPlay)
    media(net, DigitReceived(opened.session, "2", "inband"))
    plays = effects(net, MediaPlay)
    assert [p.prompts for p in plays] == [("closed",)]
    media(net, PlayDone(opened.session, plays[0].play_id))
    assert a.take_req("BYE")


def test_an_offer_without_g711_gets_488(net: Net) -> None:
    a = Phone(net, "201", 5071)
    a.register()
    a.dial("500", body=SDP_A.replace(b"RTP/AVP 0", b"RTP/AVP 9"))
    a.take_resp(488)
    assert effects(net, MediaOpen) == [] and net.core.b2bua.ports.in_use() == 0


def test_prompts_come_in_the_callers_language(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "config", tmp_path / "config")
    users = tmp_path / "config" / "users.yaml"
    users.write_text(
        users.read_text().replace("    name: Anna de Vries\n", "    name: Anna de Vries\n    language: en\n")
    )
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "default.yaml").write_text(PLAN)
    n = Net()
    cfg = load_config(tmp_path / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(tmp_path / "plans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    for user, lang in (("201", "en"), ("202", "nl")):
        phone = Phone(n, user, 5071 if user == "201" else 5072)
        phone.register()
        inv = phone.dial("500")
        phone.ack(inv, phone.take_resp(200))
        assert effects(n, MediaOpen)[0].language == lang


PLAY_PLAN = """\
default:
  - {match: {exact: "600"}, play: {prompts: [welcome, please_hold], next: staff}}
  - {match: {exact: "601"}, play: {prompts: [closed], interruptible: true}}
staff:
  - {match: {prefix: ""}, announcement: goodbye}
"""


def test_play_then_continue_or_hang_up(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "default.yaml").write_text(PLAY_PLAN)
    n = Net()
    cfg = load_config(ROOT / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(tmp_path / "plans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    a = Phone(n, "201", 5071)
    a.register()
    _d, opened = answered(n, a, "600")
    plays = effects(n, MediaPlay)
    assert [p.prompts for p in plays] == [("welcome", "please_hold")]
    media(n, DigitReceived(opened.session, "1", "rfc4733"))  # not interruptible
    assert effects(n, MediaPlay) == []
    media(n, PlayDone(opened.session, plays[0].play_id))
    then = effects(n, MediaPlay)
    assert [p.prompts for p in then] == [("goodbye",)]  # went on in context staff
    media(n, PlayDone(opened.session, then[0].play_id))
    a.reply(a.take_req("BYE"), 200)
    _d2, opened2 = answered(n, a, "601")
    effects(n, MediaPlay)
    media(n, DigitReceived(opened2.session, "5", "rfc4733"))  # interruptible: a key ends it
    assert effects(n, MediaStopPlay) and a.take_req("BYE")


COLLECT_PLAN = """\
default:
  - {match: {exact: "700"}, collect: {prompt: enter_extension, min: 3, max: 3, next: by-ext, failed: sorry}}
  - {match: {exact: "701"}, collect: {min: 2, max: 6, variable: CODE, next: readback}}
  - {match: {exact: "702"}, say_digits: "${CALLERID}"}
by-ext:
  - {match: {pattern: _2XX}, ring_user: "${EXTEN}"}
  - {match: {prefix: ""}, announcement: invalid}
readback:
  - {match: {prefix: ""}, say_digits: {value: "${CODE}", next: spoken}}
spoken:
  - {match: {prefix: ""}, say_number: {value: "${EXTEN:0:2}"}}
sorry:
  - {match: {prefix: ""}, announcement: goodbye}
"""


@pytest.fixture
def cnet(tmp_path: Path) -> Net:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "default.yaml").write_text(COLLECT_PLAN)
    n = Net()
    cfg = load_config(ROOT / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(tmp_path / "plans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    return n


def test_collect_routes_the_keyed_extension_and_rings_that_user(cnet: Net) -> None:
    a, b = Phone(cnet, "201", 5071), Phone(cnet, "202", 5072)
    a.register()
    b.register()
    _d, opened = answered(cnet, a, "700")
    assert [p.prompts for p in effects(cnet, MediaPlay)] == [("enter_extension",)]
    for key in "202":
        media(cnet, DigitReceived(opened.session, key, "rfc4733"))
    assert effects(cnet, MediaStopPlay)
    assert [p.prompts for p in effects(cnet, MediaPlay)] == [("moh:default",)]  # ringing 202
    inv_b = b.take_req("INVITE")
    assert inv_b.uri.user == "202"


def test_collect_stores_the_digits_and_say_digits_reads_them_back(cnet: Net) -> None:
    a = Phone(cnet, "201", 5071)
    a.register()
    _d, opened = answered(cnet, a, "701")
    effects(cnet, MediaPlay)
    for key in "4711":
        media(cnet, DigitReceived(opened.session, key, "rfc4733"))
    cnet.advance(5.0)  # inter-digit timeout: 4 keys is enough (min 2)
    said = effects(cnet, MediaPlay)
    assert [p.prompts for p in said] == [("num_4", "num_7", "num_1", "num_1")]  # caller's language nl
    media(cnet, PlayDone(opened.session, said[0].play_id))
    then = effects(cnet, MediaPlay)  # context spoken: the collected digits are ${EXTEN} now
    assert [p.prompts for p in then] == [("num_7", "and", "num_40")]  # 47, Dutch "zeven-en-veertig"
    media(cnet, PlayDone(opened.session, then[0].play_id))
    assert a.take_req("BYE")


def test_collect_fails_after_its_tries_and_goes_to_failed(cnet: Net) -> None:
    a = Phone(cnet, "201", 5071)
    a.register()
    _d, opened = answered(cnet, a, "700")
    heard: list[tuple[str, ...]] = []
    for _ in range(10):  # bounded: 3 tries of prompt + silence, then the failed branch
        plays = effects(cnet, MediaPlay)
        heard += [p.prompts for p in plays]
        if heard[-1] == ("goodbye",):
            break
        media(cnet, PlayDone(opened.session, plays[-1].play_id))
        if heard[-1] == ("enter_extension",):
            cnet.advance(10.0)  # first-digit timeout, from the end of the prompt
    assert heard == [("enter_extension",), ("please_try_again",)] * 2 + [("enter_extension",), ("goodbye",)]


def test_say_digits_of_the_callers_number(cnet: Net) -> None:
    a = Phone(cnet, "203", 5073)
    a.register()
    _d, opened = answered(cnet, a, "702")
    said = effects(cnet, MediaPlay)
    assert [p.prompts for p in said] == [("num_2", "num_0", "num_3")]
    media(cnet, PlayDone(opened.session, said[0].play_id))
    assert a.take_req("BYE")


@pytest.mark.parametrize("address", [None, "127.0.0.9"])
def test_the_pbx_sdp_names_media_address(tmp_path: Path, address: str | None) -> None:
    """An announcement call: the 200's SDP and the RTP session use media.address when it is set,
    else the SIP listen address."""
    import shutil

    shutil.copytree(ROOT / "config", tmp_path / "config")
    if address is not None:
        with (tmp_path / "config" / "pbx.yaml").open("a") as f:
            f.write(f"\nmedia:\n  address: {address}\n")
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "d.yaml").write_text(
        'default:\n  - {match: {exact: "500"}, announcement: welcome}\n'
    )
    n = Net()
    cfg = load_config(tmp_path / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(tmp_path / "plans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    a = Phone(n, "201", 5071)
    a.register()
    inv = a.dial("500")
    ok = a.take_resp(200)
    a.ack(inv, ok)
    want = address or "127.0.0.1"
    assert f"c=IN IP4 {want}".encode() in ok.body
    assert [o.local_host for o in effects(n, MediaOpen)] == [want]
