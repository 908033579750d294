"""Hotdesking through the whole core: *35 forms answered by the PBX, the device taking the user's
identity (rings for them, calls as them), nobody logged in -> 112 and *35 only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_call_flows import ROOT, Net, Phone

from pbx.config import load_config
from pbx.core import PbxCore
from pbx.dialplan import load_dialplans
from pbx.hotdesk.model import PersistSession, SessionStarted
from pbx.media.effects import DigitReceived, MediaPlay, PlayDone


@pytest.fixture
def net(tmp_path: Path) -> Net:
    n = Net()
    shutil.copytree(ROOT / "config", tmp_path / "config")
    with (tmp_path / "config" / "devices.yaml").open("a") as f:
        f.write("  - {username: lobby, password: secretlobby}   # a shared phone nobody owns\n")
    cfg = load_config(tmp_path / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(ROOT / "dialplans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    return n


def take(net: Net, kind: type) -> list:  # type: ignore[type-arg]
    found = [e for e in net.events if isinstance(e, kind)]
    net.events = [e for e in net.events if not isinstance(e, kind)]
    return found


def feature_call(net: Net, phone: Phone, code: str) -> tuple[str, object]:
    inv = phone.dial(code)
    ok = phone.take_resp(200)
    d = phone.ack(inv, ok)
    return next(e for e in reversed(net.events) if hasattr(e, "session")).session, d  # type: ignore[attr-defined]


def hear(net: Net) -> tuple[str, ...]:
    plays = take(net, MediaPlay)
    return tuple(p for play in plays for p in play.prompts)


def finish_plays(net: Net, session: str, plays: list[MediaPlay]) -> None:
    for p in plays:
        net.deliver(net.core.on_media_event(PlayDone(session, p.play_id), net.clock.now(), net.clock.wall()))


def keys(net: Net, session: str, digits: str) -> None:
    for d in digits:
        net.deliver(
            net.core.on_media_event(DigitReceived(session, d, "rfc4733"), net.clock.now(), net.clock.wall())
        )


def test_one_shot_login_switches_the_identity_of_the_phone(net: Net) -> None:
    desk, other = Phone(net, "201", 5071), Phone(net, "202", 5072)
    desk.register()
    other.register()
    session, _d = feature_call(net, desk, "*35*203*2033")
    plays = take(net, MediaPlay)
    assert tuple(plays[0].prompts) == ("logged_in_as", "num_2", "num_0", "num_3")
    assert [e.session.user for e in take(net, PersistSession)] == ["203"]
    assert take(net, SessionStarted)
    finish_plays(net, session, plays)
    desk.reply(desk.take_req("BYE"), 200)
    # 203's calls ring this desk phone now
    other.dial("203")
    assert (desk.take_req("INVITE").headers.get("from") or "").startswith('"Bram Jansen"')
    # and the desk phone calls as 203
    desk.clear()
    desk.dial("202")
    inv = other.take_req("INVITE")
    assert "sip:203@" in (inv.headers.get("from") or "") and "Carla Bakker" in (inv.headers.get("from") or "")
    assert net.core.hotdesk.user_on("201") == "203"


def test_star35_on_a_logged_in_phone_logs_out(net: Net) -> None:
    desk = Phone(net, "201", 5071)
    desk.register()
    s1, _ = feature_call(net, desk, "*35*203*2033")
    finish_plays(net, s1, take(net, MediaPlay))
    desk.reply(desk.take_req("BYE"), 200)
    s2, _ = feature_call(net, desk, "*35")
    plays = take(net, MediaPlay)
    assert tuple(plays[0].prompts) == ("logged_out",)
    finish_plays(net, s2, plays)
    assert desk.take_req("BYE")
    assert net.core.hotdesk.user_on("201") == "201"  # back to the phone's own user


def test_a_phone_with_nobody_calls_112_and_star35_only_and_logs_in_by_prompts(net: Net) -> None:
    lobby, carrier, other = Phone(net, "lobby", 5080), Phone(net, "carrier", 5090), Phone(net, "202", 5072)
    lobby.register()  # Phone's password is "secret" + user: the lobby device's is secretlobby
    other.register()
    lobby.dial("202")
    assert lobby.take_resp(403).reason == "Not Logged In"
    lobby.dial("112")
    assert carrier.take_req("INVITE").uri_text.startswith("sip:112@")
    lobby.clear()
    inv = lobby.dial("*35")
    ok = lobby.take_resp(200)
    lobby.ack(inv, ok)
    session = next(e for e in reversed(net.events) if hasattr(e, "session")).session  # type: ignore[attr-defined]
    plays = take(net, MediaPlay)
    assert plays[0].prompts == ("enter_extension",)
    finish_plays(net, session, plays)
    keys(net, session, "203#")
    plays = take(net, MediaPlay)
    assert plays[0].prompts == ("enter_pin",)
    keys(net, session, "2033#")
    plays = take(net, MediaPlay)
    assert plays[-1].prompts == ("logged_in_as", "num_2", "num_0", "num_3")
    assert net.core.hotdesk.user_on("lobby") == "203"
