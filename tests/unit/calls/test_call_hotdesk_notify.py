"""The check-sync NOTIFY through the whole core: a device whose user changed gets an out-of-dialog
NOTIFY at every registered contact (Request-URI = the contact), as a non-INVITE client transaction
(retransmitted until answered); the answer, whatever it is, changes nothing; switches turn it off."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_call_flows import ROOT, Net, Phone
from test_call_hotdesk import feature_call, finish_plays, take

from pbx.config import load_config
from pbx.core import PbxCore
from pbx.dialplan import load_dialplans
from pbx.media.effects import MediaPlay
from pbx.sip.message import Request


def make_net(tmp_path: Path, extra: str = "", device_extra: str = "") -> Net:
    n = Net()
    shutil.copytree(ROOT / "config", tmp_path / "config")
    with (tmp_path / "config" / "devices.yaml").open("a") as f:
        f.write(f"  - {{username: lobby, password: secretlobby{device_extra}}}\n")
    if extra:
        with (tmp_path / "config" / "pbx.yaml").open("a") as f:
            f.write(extra)
    cfg = load_config(tmp_path / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(ROOT / "dialplans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    return n


def notifies(phone: Phone) -> list[Request]:
    out = [m for m in phone.inbox if isinstance(m, Request) and m.method == "NOTIFY"]
    phone.inbox = [m for m in phone.inbox if m not in out]
    return out


def api_login(net: Net, user: str, device: str) -> None:
    outcome, effects = net.core.hotdesk_login(user, device, net.clock.now(), net.clock.wall())
    assert outcome == "logged_in"
    net.deliver(effects)


def test_login_takeover_and_logout_notify_each_phone_whose_user_changed(tmp_path: Path) -> None:
    net = make_net(tmp_path)
    lobby, lobby2 = Phone(net, "lobby", 5071), Phone(net, "lobby", 5073)
    desk, own = Phone(net, "202", 5072), Phone(net, "203", 5074)
    for p in (lobby, lobby2, desk, own):
        p.register()
    assert not any(notifies(p) for p in (lobby, lobby2, desk, own))  # registering changes nobody
    api_login(net, "203", "lobby")
    got = {p.port: [(n.uri_text, n.headers.get("x-pbx-hotdesk-user")) for n in notifies(p)]
           for p in (lobby, lobby2, desk, own)}  # fmt: skip
    assert got == {
        5071: [("sip:lobby@127.0.0.1:5071", "203")],  # every contact of the device, at its own URI
        5073: [("sip:lobby@127.0.0.1:5073", "203")],
        5072: [],  # 202's phone: nothing changed there
        5074: [("sip:203@127.0.0.1:5074", "")],  # 203's own phone is vacated meanwhile
    }
    # the takeover: 203 logs in on 202's phone; the lobby phone has nobody again
    api_login(net, "203", "202")
    assert [n.headers.get("x-pbx-hotdesk-user") for n in notifies(lobby)] == [""]
    assert [n.headers.get("x-pbx-hotdesk-user") for n in notifies(desk)] == ["203"]
    assert not notifies(own)
    # the admin logout: 202's phone is 202's again, 203's own phone 203's
    _outcome, effects = net.core.hotdesk_logout("203", net.clock.now(), net.clock.wall())
    net.deliver(effects)
    assert [n.headers.get("x-pbx-hotdesk-user") for n in notifies(desk)] == ["202"]
    assert [n.headers.get("x-pbx-hotdesk-user") for n in notifies(own)] == ["203"]


def test_notify_is_a_proper_client_transaction_and_any_answer_is_fine(tmp_path: Path) -> None:
    net = make_net(tmp_path)
    a, b, c = Phone(net, "lobby", 5071), Phone(net, "203", 5074), Phone(net, "202", 5072)
    for p in (a, b, c):
        p.register()
    api_login(net, "203", "lobby")
    n = notifies(a)[0]
    assert n.headers.get("event") == "check-sync;reboot=false"
    assert (n.headers.get("subscription-state") or "").startswith("terminated")
    assert n.headers.get("cseq") == "1 NOTIFY" and "branch=z9hG4bK" in (n.headers.get("via") or "")
    assert not n.to.tag  # out of dialog
    net.advance(0.6)  # Timer E: retransmitted until a response comes
    again = notifies(a)
    assert again and again[0].headers.get("call-id") == n.headers.get("call-id")
    a.reply(n, 489)  # Bad Event: the phone does not do check-sync
    net.advance(5.0)
    assert not notifies(a)  # no more retransmissions after the final response
    b_notify = notifies(b)[0]
    b.reply(b_notify, 405)
    net.advance(40.0)  # nobody answers the next one at all: Timer F ends it quietly
    assert net.core.hotdesk.user_on("lobby") == "203" and net.core.hotdesk.user_on("203") is None
    assert not net.core._notify_tx  # every NOTIFY transaction is over and forgotten
    # calls still work: 202 calls 203, which rings the lobby phone now
    c.dial("203")
    assert a.take_req("INVITE") is not None


def test_star35_on_the_phone_notifies_the_phone_itself(tmp_path: Path) -> None:
    net = make_net(tmp_path)
    lobby = Phone(net, "lobby", 5071)
    lobby.register()
    session, _d = feature_call(net, lobby, "*35*203*2033")
    plays = take(net, MediaPlay)
    finish_plays(net, session, plays)
    assert [n.headers.get("x-pbx-hotdesk-user") for n in notifies(lobby)] == ["203"]


def test_switched_off_globally_or_per_device(tmp_path: Path) -> None:
    net = make_net(tmp_path / "a", extra="hotdesk:\n  notify: none\n")
    lobby = Phone(net, "lobby", 5071)
    lobby.register()
    api_login(net, "203", "lobby")
    assert not notifies(lobby)
    net = make_net(tmp_path / "b", device_extra=", notify: false")
    lobby, own = Phone(net, "lobby", 5071), Phone(net, "203", 5074)
    lobby.register()
    own.register()
    api_login(net, "203", "lobby")
    assert not notifies(lobby) and len(notifies(own)) == 1
