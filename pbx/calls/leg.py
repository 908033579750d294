# How this works
# --------------
# A leg is one SIP dialog between the PBX and one phone (RFC 3261 section 12). The A leg is the
# dialog in which the PBX is the UAS (the caller's INVITE came in); a B leg is one in which the
# PBX is the UAC (the INVITE we sent to one registered contact). Every call has one A leg and one
# B leg per contact rung (parallel fork).
#
# The leg keeps the dialog state of 12.1: Call-ID, local and remote tag, local and remote URI,
# local CSeq (ours, incremented per request) and remote CSeq (the peer's, checked for order per
# 12.2.2), the remote target (the peer's Contact, refreshed by re-INVITE/UPDATE) and the route
# set (Record-Route: in order for the UAS, reversed for the UAC, 12.1.1/12.1.2). `request()`
# builds a new in-dialog request from that state (12.2.1.1), `ack()` the ACK of a 2xx
# (13.2.2.4), `cancel()` the CANCEL of our INVITE (9.1: same Request-URI, Call-ID, From, To,
# CSeq number and top Via as the INVITE).
#
# In-dialog requests go to `dest`, the transport address the peer is reachable at (where its
# INVITE came from, or its registration's source): behind NAT only that reaches the phone, the
# same choice the registrar makes for initial requests.
#
# State, checked in one place (`to`) against ALLOWED:
#   TRYING       the INVITE is under way, no dialog yet (B: nothing but 100 received)
#   EARLY        a 1xx with a To tag (B), or our 1xx sent (A): an early dialog
#   CONFIRMED    2xx sent/received: the dialog exists
#   TERMINATING  we sent CANCEL or BYE and wait for the transaction to end
#   ENDED        the dialog (or the attempt) is over
"""One dialog side of a call: LegState with its ALLOWED table and RFC 3261 section 12 dialog state."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field

from pbx.sip.addr import Addr
from pbx.sip.errors import SipParseError
from pbx.sip.headers import NameAddr
from pbx.sip.message import Headers, Request, Response
from pbx.sip.stack import new_branch


class LegState(enum.Enum):
    TRYING = "trying"
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATING = "terminating"
    ENDED = "ended"


class Role(enum.Enum):
    UAS = "uas"  # the A leg: the caller's INVITE came in on it
    UAC = "uac"  # a B leg: we sent the INVITE


_L = LegState
ALLOWED: dict[LegState, frozenset[LegState]] = {
    _L.TRYING: frozenset({_L.EARLY, _L.CONFIRMED, _L.TERMINATING, _L.ENDED}),
    _L.EARLY: frozenset({_L.CONFIRMED, _L.TERMINATING, _L.ENDED}),
    _L.CONFIRMED: frozenset({_L.TERMINATING, _L.ENDED}),
    _L.TERMINATING: frozenset({_L.ENDED}),
    _L.ENDED: frozenset(),
}


class InvalidLegTransition(Exception):
    """A leg was moved along a transition ALLOWED does not have: a bug in the call logic."""

    def __init__(self, leg: str, old: LegState, new: LegState) -> None:
        super().__init__(f"leg {leg}: no transition from {old.name} to {new.name}")
        self.old = old
        self.new = new


def without_tag(value: NameAddr) -> str:
    """A From/To value rendered without its tag (the tag is dialog state of its own)."""
    return str(value.with_params(tuple((k, v) for k, v in value.params if k.lower() != "tag")))


def content_headers(msg: Request | Response) -> list[tuple[str, str]]:
    """The headers that describe a body, carried over when a body is relayed to the other leg."""
    if not msg.body:
        return []
    out = [(k, v) for k, v in msg.headers if k in ("content-type", "content-disposition")]
    return out or [("content-type", "application/sdp")]


@dataclass
class Unacked:
    """A 2xx to an INVITE we sent as UAS and keep sending until the ACK comes (13.3.1.4)."""

    server_key: str
    response: Response
    cseq: int
    interval: float
    next_at: float
    give_up_at: float
    # The peer leg's INVITE whose 2xx we have not ACKed yet because the offer was in that 2xx
    # (delayed offer): the ACK of this leg carries the answer, relayed into the peer's ACK.
    peer_ack: tuple[Leg, Request] | None = None


@dataclass(eq=False)
class Leg:
    id: str  # "a", "b1", "b2" ... unique within the call
    role: Role
    call_id: str
    local_tag: str
    local_uri: str  # name-addr without tag: our To (UAS) or our From (UAC)
    remote_uri: str  # name-addr without tag
    remote_target: str  # Request-URI for in-dialog requests
    dest: Addr  # where in-dialog requests go
    contact: str  # the PBX's Contact on this leg
    via_host: str  # sent-by of our Via on this leg, "host:port"
    user_agent: str
    remote_tag: str | None = None
    local_cseq: int = 0
    remote_cseq: int | None = None
    route_set: list[str] = field(default_factory=list)
    state: LegState = LegState.TRYING
    peer_name: str = ""  # the device (B) or caller extension (A), for snapshots and logs
    invite: Request | None = None  # the initial INVITE (received for A, sent for B)
    invite_key: str = ""  # its transaction key (server for A, client for B)
    provisional: bool = False  # B: a 1xx came back, so a CANCEL may be sent (9.1)
    cancel_wanted: bool = False  # B: cancel as soon as a 1xx allows it
    cancel_sent: bool = False
    final: int | None = None  # B: the final status of the INVITE
    ack: bytes | None = None  # B: the ACK last sent for a 2xx, re-sent on 2xx retransmissions
    unacked: Unacked | None = None  # a 2xx we keep retransmitting on this leg
    # CSeq of our own re-INVITE in this dialog (relayed, or the music-on-hold offer) that has no
    # final response yet: RFC 3261 14.1 allows one INVITE transaction at a time in a dialog, so
    # another re-INVITE for this leg waits (Call.on_in_dialog, Call.offer_done)
    offer_cseq: int | None = None

    def to(self, new: LegState) -> None:
        if new is self.state:
            return
        if new not in ALLOWED[self.state]:
            raise InvalidLegTransition(self.id, self.state, new)
        self.state = new

    @property
    def live(self) -> bool:
        return self.state is not LegState.ENDED

    # --- dialog state updates ----------------------------------------------------------------
    def learn_from_response(self, resp: Response) -> None:
        """UAC: the To tag, remote target and route set of a dialog-forming response (12.1.2)."""
        try:
            tag = resp.to.tag
            contacts = resp.contacts
        except SipParseError:
            return
        if tag and (self.remote_tag is None or 200 <= resp.status < 300):
            self.remote_tag = tag
        if contacts:
            self.remote_target = contacts[0].uri.text
        rr = resp.headers.get_all("record-route")
        if rr:
            self.route_set = list(reversed(rr))

    def refresh_target(self, msg: Request | Response) -> None:
        """A target refresh (re-INVITE, UPDATE, or its 2xx) may carry a new Contact (12.2.2)."""
        try:
            contacts = msg.contacts
        except SipParseError:
            return
        if contacts:
            self.remote_target = contacts[0].uri.text

    # --- requests ----------------------------------------------------------------------------
    def _headers(self, method: str, cseq: int, branch: str) -> Headers:
        h = Headers()
        h.add("via", f"SIP/2.0/{self.dest.transport.upper()} {self.via_host};branch={branch};rport")
        h.add("max-forwards", "70")
        for r in self.route_set:
            h.add("route", r)
        h.add("from", f"{self.local_uri};tag={self.local_tag}")
        h.add("to", f"{self.remote_uri};tag={self.remote_tag}" if self.remote_tag else self.remote_uri)
        h.add("call-id", self.call_id)
        h.add("cseq", f"{cseq} {method}")
        return h

    def request(self, method: str, body: bytes = b"", extra: list[tuple[str, str]] | None = None) -> Request:
        """A new in-dialog request (12.2.1.1) with a fresh branch and the next local CSeq."""
        self.local_cseq += 1
        h = self._headers(method, self.local_cseq, new_branch())
        if method in ("INVITE", "UPDATE"):
            h.add("contact", self.contact)
        h.add("user-agent", self.user_agent)
        for k, v in extra or ():
            h.add(k, v)
        return Request(method, self.remote_target, h, body)

    def ack_for(
        self, invite: Request, body: bytes = b"", extra: list[tuple[str, str]] | None = None
    ) -> bytes:
        """The ACK of a 2xx to `invite` (13.2.2.4): its own branch, the INVITE's CSeq number."""
        h = self._headers("ACK", invite.cseq.number, new_branch())
        for k, v in extra or ():
            h.add(k, v)
        self.ack = Request("ACK", self.remote_target, h, body).render()
        return self.ack

    def cancel(self) -> Request:
        """The CANCEL of our initial INVITE (9.1)."""
        inv = self.invite
        assert inv is not None and self.role is Role.UAC
        h = Headers()
        h.add("via", inv.headers.get("via") or "")
        for r in inv.headers.get_all("route"):
            h.add("route", r)
        h.add("max-forwards", "70")
        h.add("from", inv.headers.get("from") or "")
        h.add("to", inv.headers.get("to") or "")
        h.add("call-id", inv.call_id)
        h.add("cseq", f"{inv.cseq.number} CANCEL")
        h.add("user-agent", self.user_agent)
        return Request("CANCEL", inv.uri_text, h)

    def check_remote_cseq(self, req: Request) -> bool:
        """12.2.2: a request with a CSeq lower than (or equal to) the last one is out of order."""
        n = req.cseq.number
        if self.remote_cseq is not None and n <= self.remote_cseq:
            return False
        self.remote_cseq = n
        return True


def new_tag() -> str:
    return secrets.token_hex(6)
