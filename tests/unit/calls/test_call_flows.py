"""Call setup through the whole PbxCore: fake phones exchange SIP bytes with it, time is a FakeClock.

`Net` carries every `Send` to the fake phone at its destination address (inbox) and keeps the
other effects (call events). A `Phone` registers with digest, dials with Proxy-Authorization,
answers, declines and sends ACK/BYE/CANCEL built from what it received, as a real UA would.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from pbx.calls import CallAnswered, CallEnded, CallStarted
from pbx.clock import FakeClock
from pbx.config import load_config
from pbx.core import PbxCore
from pbx.sip.addr import Addr
from pbx.sip.effects import Send
from pbx.sip.headers import NameAddr
from pbx.sip.message import Headers, Request, Response, make_response
from pbx.sip.parser import parse

ROOT = Path(__file__).parents[3]
SDP_A = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
SDP_B = SDP_A.replace(b"o=a", b"o=b").replace(b"4000", b"4002")
Msg = Request | Response


def _bare(v: NameAddr) -> str:
    return str(v.with_params(tuple(p for p in v.params if p[0].lower() != "tag")))


@dataclass
class Dialog:
    call_id: str
    local: str  # From of our requests, tag included
    remote: str  # To of our requests, tag included
    target: str
    cseq: int


class Net:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.core = PbxCore(load_config(ROOT / "config"), self.clock.now(), self.clock.wall())
        self.core.set_local([("udp", "127.0.0.1", 5060)])
        self.phones: dict[Addr, Phone] = {}
        self.events: list[object] = []

    def deliver(self, effects: list[object]) -> None:
        for e in effects:
            if isinstance(e, Send):
                ph = self.phones.get(e.dest)
                if ph is not None:
                    ph.inbox.append(parse(e.data))
            else:
                self.events.append(e)

    def feed(self, phone: Phone, msg: Msg) -> None:
        self.deliver(self.core.receive(msg.render(), phone.addr, self.clock.now(), self.clock.wall()))

    def advance(self, dt: float) -> None:
        end = self.clock.now() + dt
        while (d := self.core.next_deadline()) is not None and d <= end:
            self.clock.set(max(d, self.clock.now()))
            self.deliver(self.core.on_timer(self.clock.now(), self.clock.wall()))
        self.clock.set(end)

    def event(self, kind: type) -> list[object]:
        return [e for e in self.events if isinstance(e, kind)]


class Phone:
    def __init__(self, net: Net, user: str, port: int) -> None:
        self.net, self.user, self.port = net, user, port
        self.addr = Addr("udp", "127.0.0.1", port)
        self.contact = f"<sip:{user}@127.0.0.1:{port}>"
        self.inbox: list[Msg] = []
        self.tags: dict[str, str] = {}  # Call-ID -> our To tag as UAS
        self.cseq = itertools.count(1)
        net.phones[self.addr] = self

    # --- the inbox ---
    def _match(self, m: Msg, what: str | int) -> bool:
        if isinstance(what, int):
            return isinstance(m, Response) and m.status == what
        if isinstance(m, Request):
            return m.method == what
        return "/" in what and isinstance(m, Response) and m.cseq.method == what.split("/")[0]

    def take(self, what: str | int) -> Msg:
        for i, m in enumerate(self.inbox):
            if self._match(m, what):
                return self.inbox.pop(i)
        raise AssertionError(f"{self.user}:{self.port} got no {what}; inbox {self.inbox}")

    def take_req(self, method: str) -> Request:
        m = self.take(method)
        assert isinstance(m, Request)
        return m

    def take_resp(self, status: int) -> Response:
        m = self.take(status)
        assert isinstance(m, Response)
        return m

    def count(self, what: str | int) -> int:
        return sum(1 for m in self.inbox if self._match(m, what))

    def clear(self) -> None:
        self.inbox.clear()

    # --- requests ---
    def _req(self, method: str, uri: str, call_id: str, frm: str, to: str, cseq: int,
             body: bytes = b"", extra: tuple[tuple[str, str], ...] = ()) -> Request:  # fmt: skip
        h = Headers()
        h.add("via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(6)};rport")
        h.add("max-forwards", "70")
        for k, v in (("from", frm), ("to", to), ("call-id", call_id), ("cseq", f"{cseq} {method}")):
            h.add(k, v)
        if method not in ("ACK", "CANCEL", "BYE"):
            h.add("contact", self.contact)
        if body and not any(k == "content-type" for k, _ in extra):
            h.add("content-type", "application/sdp")
        for k, v in extra:
            h.add(k, v)
        return Request(method, uri, h, body)

    def send(self, msg: Msg) -> None:
        self.net.feed(self, msg)

    def register(self) -> None:
        call_id = f"reg-{self.user}-{self.port}"

        def reg(auth: tuple[tuple[str, str], ...]) -> Request:  # fmt: skip
            return self._req("REGISTER", "sip:127.0.0.1", call_id, f"<sip:{self.user}@127.0.0.1>;tag=r",
                             f"<sip:{self.user}@127.0.0.1>", next(self.cseq), extra=auth)  # fmt: skip

        self.send(reg(()))
        r = self.take_resp(401)
        self.send(reg((("authorization", self._digest(r, "www-authenticate", "REGISTER", "sip:127.0.0.1")),)))
        self.take_resp(200)

    def _digest(self, r: Response, header: str, method: str, uri: str) -> str:
        ch = r.headers.get(header) or ""
        nonce = re.search(r'nonce="([^"]+)"', ch)
        assert nonce
        ha1 = hashlib.md5(f"{self.user}:pbx:secret{self.user}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
        resp = hashlib.md5(f"{ha1}:{nonce[1]}:00000001:c0ffee:auth:{ha2}".encode()).hexdigest()
        return (f'Digest username="{self.user}", realm="pbx", nonce="{nonce[1]}", uri="{uri}", '
                f'response="{resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"')  # fmt: skip

    def dial(self, ext: str, body: bytes = SDP_A) -> Request:
        """INVITE, the 407 and its ACK, then the INVITE with credentials. Returns that INVITE."""
        uri, call_id, frm = f"sip:{ext}@127.0.0.1", secrets.token_hex(8), f"<sip:{self.user}@127.0.0.1>"
        frm += f";tag={secrets.token_hex(4)}"
        first = self._req("INVITE", uri, call_id, frm, f"<sip:{ext}@127.0.0.1>", next(self.cseq), body)
        self.send(first)
        r407 = self.take_resp(407)
        ack = self._req("ACK", uri, call_id, frm, r407.headers.get("to") or "", first.cseq.number)
        ack.headers.set("via", first.headers.get("via") or "")
        self.send(ack)
        auth = (("proxy-authorization", self._digest(r407, "proxy-authenticate", "INVITE", uri)),)
        inv = self._req("INVITE", uri, call_id, frm, f"<sip:{ext}@127.0.0.1>", next(self.cseq), body, auth)
        self.send(inv)
        return inv

    def cancel(self, inv: Request) -> None:
        c = self._req("CANCEL", inv.uri_text, inv.call_id, inv.headers.get("from") or "",
                      inv.headers.get("to") or "", inv.cseq.number)  # fmt: skip
        c.headers.set("via", inv.headers.get("via") or "")
        self.send(c)

    def ack(self, inv: Request, ok: Response, body: bytes = b"") -> Dialog:
        """ACK a 2xx to our INVITE; returns the dialog it confirmed."""
        d = Dialog(inv.call_id, inv.headers.get("from") or "", ok.headers.get("to") or "",
                   ok.contacts[0].uri.text, inv.cseq.number)  # fmt: skip
        self.send(self._req("ACK", d.target, d.call_id, d.local, d.remote, inv.cseq.number, body))
        return d

    def request(
        self, d: Dialog, method: str, body: bytes = b"", extra: tuple[tuple[str, str], ...] = ()
    ) -> Request:
        d.cseq += 1
        req = self._req(method, d.target, d.call_id, d.local, d.remote, d.cseq, body, extra)
        self.send(req)
        return req

    def ack_dialog(self, d: Dialog, cseq: int) -> None:
        self.send(self._req("ACK", d.target, d.call_id, d.local, d.remote, cseq))

    # --- answering ---
    def reply(self, req: Request, status: int, body: bytes = b"") -> Response:
        tag = self.tags.setdefault(req.call_id, secrets.token_hex(4))
        extra = [("contact", self.contact)] + ([("content-type", "application/sdp")] if body else [])
        resp = make_response(req, status, to_tag=tag, extra=extra, body=body)
        self.send(resp)
        return resp

    def dialog_as_callee(self, inv: Request) -> Dialog:
        tag = self.tags[inv.call_id]
        return Dialog(inv.call_id, f"{_bare(inv.to)};tag={tag}", inv.headers.get("from") or "",
                      inv.contacts[0].uri.text, 100)  # fmt: skip


@pytest.fixture
def net() -> Net:
    return Net()


def setup_call(net: Net, callers: int = 1) -> tuple[Phone, Phone, Request, Request]:
    """201 calls 202 (one phone each); 202 rings. Returns (a, b, A's INVITE, B's INVITE)."""
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)
    a.register()
    b.register()
    inv = a.dial("202")
    a.take_resp(100)
    return a, b, inv, b.take_req("INVITE")


def connected(net: Net) -> tuple[Phone, Phone, Dialog, Dialog]:
    """An answered, ACKed call 201 -> 202: (a, b, a's dialog, b's dialog)."""
    a, b, inv, binv = setup_call(net)
    b.reply(binv, 180)
    b.reply(binv, 200, SDP_B)
    b.take_req("ACK")
    da = a.ack(inv, a.take_resp(200))
    a.clear()
    b.clear()
    return a, b, da, b.dialog_as_callee(binv)


# --- tests -------------------------------------------------------------------------------------


def test_answer_ack_and_bye_from_caller(net: Net) -> None:
    a, b, inv, binv = setup_call(net)
    # B's INVITE is a new dialog of the PBX's own, with the caller's name and the same SDP
    assert binv.call_id != inv.call_id and binv.uri_text == "sip:202@127.0.0.1:5072"
    assert binv.from_.display == '"Anna de Vries"' and binv.from_.uri.user == "201"
    assert binv.to.uri.user == "202" and binv.headers.get("max-forwards") == "69"
    assert binv.top_via.host == "127.0.0.1" and binv.top_via.port == 5060 and binv.body == SDP_A
    b.reply(binv, 180)
    ringing = a.take_resp(180)
    pbx_tag = ringing.to.tag
    assert pbx_tag and pbx_tag != b.tags[binv.call_id]
    b.reply(binv, 200, SDP_B)
    b.take_req("ACK")  # SDP offer was in the INVITE: B is ACKed at once
    ok = a.take_resp(200)
    assert ok.to.tag == pbx_tag and ok.body == SDP_B and ok.contacts[0].uri.port == 5060
    [call] = net.core.calls(net.clock.now())
    assert call.state == "answered" and [leg.state for leg in call.legs] == ["confirmed", "confirmed"]
    d = a.ack(inv, ok)
    a.request(d, "BYE")
    a.take_resp(200)
    bye = b.take_req("BYE")
    assert bye.call_id == binv.call_id and bye.from_.tag == binv.from_.tag
    assert bye.to.tag == b.tags[binv.call_id] and bye.cseq.number == binv.cseq.number + 1
    b.reply(bye, 200)
    assert net.core.calls(net.clock.now()) == []
    [started] = net.event(CallStarted)
    assert isinstance(started, CallStarted) and (started.caller, started.callee) == ("201", "202")
    calls = [e for e in net.events if isinstance(e, CallStarted | CallAnswered | CallEnded)]
    assert [type(e) for e in calls] == [CallStarted, CallAnswered, CallEnded]
    assert calls[-1] == CallEnded(started.call_id, "caller_hangup", net.clock.wall())
    assert net.core.b2bua.count() == 0


def test_bye_from_callee(net: Net) -> None:
    a, b, _, db = connected(net)
    b.request(db, "BYE")
    b.take_resp(200)
    bye = a.take_req("BYE")
    a.reply(bye, 200)
    [ended] = net.event(CallEnded)
    assert isinstance(ended, CallEnded) and ended.reason == "callee_hangup"
    assert net.core.b2bua.count() == 0


def test_unknown_number_404_and_unregistered_user_480(net: Net) -> None:
    a = Phone(net, "201", 5071)
    a.register()
    a.dial("999")
    assert a.take_resp(404)
    a.dial("203")  # a user, but no phone of theirs is registered
    assert a.take_resp(480)
    assert net.core.b2bua.count() == 0


def test_no_answer_ring_timeout_480_and_cancel(net: Net) -> None:
    a, b, _, binv = setup_call(net)
    b.reply(binv, 180)
    net.advance(29.9)
    assert a.count(480) == 0
    net.advance(0.2)
    cancel = b.take_req("CANCEL")
    assert cancel.top_via.branch == binv.top_via.branch and cancel.cseq.number == binv.cseq.number
    a.take_resp(480)
    b.reply(cancel, 200)
    b.reply(binv, 487)
    b.take_req("ACK")
    [ended] = net.event(CallEnded)
    assert isinstance(ended, CallEnded) and ended.reason == "no_answer"
    assert net.core.b2bua.count() == 0


def test_cancel_waits_for_a_provisional_response(net: Net) -> None:
    a, b, inv, binv = setup_call(net)
    a.cancel(inv)
    a.take_resp(200)
    a.take_resp(487)
    assert b.count("CANCEL") == 0  # 9.1: not before B said anything
    b.reply(binv, 180)
    b.take_req("CANCEL")


def test_cancel_from_caller_before_answer(net: Net) -> None:
    a, b, inv, binv = setup_call(net)
    b.reply(binv, 180)
    a.take_resp(180)
    a.cancel(inv)
    assert a.take_resp(200).cseq.method == "CANCEL"
    assert a.take_resp(487).cseq.method == "INVITE"
    cancel = b.take_req("CANCEL")
    b.reply(cancel, 200)
    b.reply(binv, 487)
    [ended] = net.event(CallEnded)
    assert isinstance(ended, CallEnded) and ended.reason == "cancelled"
    assert net.core.b2bua.count() == 0


def test_cancel_crossing_the_200_leaves_the_call_up(net: Net) -> None:
    a, b, inv, binv = setup_call(net)
    b.reply(binv, 180)
    b.reply(binv, 200, SDP_B)
    ok = a.take_resp(200)
    a.cancel(inv)  # sent before the 200 reached the caller
    assert a.take_resp(200).cseq.method == "CANCEL" and a.count(487) == 0
    assert b.count("CANCEL") == 0 and b.count("BYE") == 0
    a.ack(inv, ok)
    assert net.core.calls(net.clock.now())[0].state == "answered"


def test_cancel_crossing_the_callees_200_releases_the_callee(net: Net) -> None:
    a, b, inv, binv = setup_call(net)
    b.reply(binv, 180)
    a.cancel(inv)
    a.take_resp(487)
    b.take_req("CANCEL")
    b.reply(binv, 200, SDP_B)  # B answered before our CANCEL reached it: it gets ACK and BYE
    assert b.take_req("ACK").cseq.number == binv.cseq.number
    bye = b.take_req("BYE")
    b.reply(bye, 200)
    assert a.count(200) == 1  # only the 200 to the CANCEL
    assert net.core.b2bua.count() == 0


def two_phones(net: Net) -> tuple[Phone, Phone, Phone, Request, Request, Request]:
    a, b1, b2 = Phone(net, "201", 5071), Phone(net, "202", 5072), Phone(net, "202", 5082)
    for p in (a, b1, b2):
        p.register()
    inv = a.dial("202")
    i1, i2 = b1.take_req("INVITE"), b2.take_req("INVITE")
    assert i1.call_id != i2.call_id and i1.from_.tag != i2.from_.tag
    b1.reply(i1, 180)
    b2.reply(i2, 180)
    return a, b1, b2, inv, i1, i2


def test_parallel_fork_first_answer_wins_others_cancelled(net: Net) -> None:
    a, b1, b2, _inv, i1, i2 = two_phones(net)
    assert a.count(180) == 2
    b2.reply(i2, 200, SDP_B)
    assert a.take_resp(200).body == SDP_B
    cancel = b1.take_req("CANCEL")
    b1.reply(cancel, 200)
    b1.reply(i1, 487)
    [answered] = net.event(CallAnswered)
    assert isinstance(answered, CallAnswered) and answered.device == "202"
    [call] = net.core.calls(net.clock.now())
    assert sorted(leg.state for leg in call.legs) == ["confirmed", "confirmed", "ended"]


def test_fork_race_second_answer_gets_ack_and_bye(net: Net) -> None:
    a, b1, b2, _inv, i1, i2 = two_phones(net)
    b1.reply(i1, 200, SDP_B)
    b1.take_req("ACK")
    b2.take_req("CANCEL")
    b2.reply(i2, 200, SDP_B)  # crossed our CANCEL
    b2.take_req("ACK")
    b2.reply(b2.take_req("BYE"), 200)
    assert a.count(200) == 1


def test_decline_on_one_phone_other_keeps_ringing_until_timeout(net: Net) -> None:
    a, b1, b2, _, i1, _i2 = two_phones(net)
    b1.reply(i1, 486)
    b1.take_req("ACK")
    assert a.count(486) == 0 and b2.count("CANCEL") == 0
    net.advance(30)
    b2.take_req("CANCEL")
    assert a.take_resp(480)


def test_all_busy_gives_486(net: Net) -> None:
    a, b1, b2, _, i1, i2 = two_phones(net)
    b1.reply(i1, 486)
    b2.reply(i2, 486)
    assert a.take_resp(486)
    [ended] = net.event(CallEnded)
    assert isinstance(ended, CallEnded) and ended.reason == "busy"


def test_603_decline_ends_the_whole_offer(net: Net) -> None:
    a, b1, b2, _, i1, _i2 = two_phones(net)
    b1.reply(i1, 603)
    assert a.take_resp(603)
    b2.take_req("CANCEL")
