"""The transaction layer: the table of live transactions, matching, and one timer heap for all.

How it works (RFC 3261 17.1.3 and 17.2.3, RFC 2543 fallback, RFC 6026): each message is matched
to a transaction by a key (an opaque printable string, `TxKey`):

- Server, top Via branch starts with `z9hG4bK` and has something after it:
  `S <branch> <sent-by> <method> <CSeq number>`, where ACK's method counts as INVITE and CANCEL is
  its own transaction. The CSeq number is our addition: some phones (pyVoIP) resend a challenged
  INVITE/REGISTER with the same branch and a new CSeq, which must be a new transaction. An ACK
  carries its INVITE's CSeq number, a CANCEL too.
- Server, no usable branch (RFC 2543 peers; RFC 4475 `badbranch` has exactly the cookie):
  `L <Request-URI> <From tag> <To tag> <Call-ID> <CSeq number> <method> <sent-by>`. An ACK for a
  non-2xx to an initial INVITE has the To tag our response added: it is looked up with its own To
  tag, then without one, and then only accepted if the transaction's final response had that tag.
- Client: `C <branch> <CSeq method>` of the request we sent / the response's top Via.

Public API (`now` is monotonic seconds; every list holds `Send` effects and upward events):

- `TransactionLayer(timers)`; `.timers` may be replaced on reload (new transactions use it).
- `receive_request(req, source, now) -> (req | None, effects)`: a request for the TU, or None when
  the layer absorbed it (a retransmission: the last response is re-sent; the ACK of a non-2xx).
  A new INVITE or non-INVITE request creates a server transaction whose responses go to
  `response_destination(req.top_via, source)`; `server_key(req)` is its key. An ACK matching no
  transaction (the ACK of a 2xx), or one matching an INVITE transaction in ACCEPTED (RFC 6026),
  is returned for the TU without creating anything.
- `respond(req_or_key, resp, now) -> effects`: send a response in the server transaction. A 2xx
  retransmitted by the TU goes through here too (RFC 6026). A response for a transaction that no
  longer exists is dropped and counted (`stats.late_responses`).
- `send_request(req, dest, now) -> (key, effects)`: start a client transaction. The caller has put
  a Via with a fresh branch (`new_branch()`) on top. ACK is not a transaction: send it yourself.
- `receive_response(resp, now) -> events`: `ResponseReceived(key, resp)` (plus the ACK `Send` for
  a non-2xx to INVITE). A response matching nothing is counted in `stats.strays` and dropped,
  except a 2xx to INVITE, passed up as `StrayInvite2xx(resp)` for the dialog layer to ACK and BYE.
- `cancel_target(cancel) -> key | None`: the INVITE server transaction a CANCEL refers to (9.2).
- `on_timer(now)` / `next_deadline()`: all transactions' timers from a min-heap of
  (deadline, seq, key) with lazy deletion: a heap entry is live only while it equals the key's
  currently armed deadline. Terminated transactions leave the table. `TransactionTimedOut(key,
  timer)` reports Timer B/F (no final response) and Timer H (the ACK never came).
- `get(key)`, `count()`, `stats` (`TxStats`).
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from dataclasses import dataclass

from pbx.sip.addr import Addr, response_destination
from pbx.sip.errors import SipParseError
from pbx.sip.headers import MAGIC_COOKIE
from pbx.sip.message import Request, Response
from pbx.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    InvalidTransition,
    ResponseReceived,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    TimerConfig,
    Transaction,
    TransactionTimedOut,
    TxKey,
    TxOutput,
    TxState,
    TxStats,
)

__all__ = [
    "InvalidTransition",
    "ResponseReceived",
    "StackOutput",
    "StrayInvite2xx",
    "TimerConfig",
    "TransactionLayer",
    "TransactionTimedOut",
    "TxKey",
    "TxStats",
    "client_key",
    "new_branch",
    "server_key",
]


@dataclass(frozen=True, slots=True)
class StrayInvite2xx:
    """A 2xx to INVITE with no client transaction (after Timer M, or a fork we never saw)."""

    response: Response


StackOutput = TxOutput | StrayInvite2xx


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 80 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(10)


def has_cookie(branch: str | None) -> bool:
    return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE)


def client_key(branch: str, method: str) -> TxKey:
    return f"C {branch} {method}"


def server_key(req: Request, method: str | None = None, to_tag: str | None = None) -> TxKey:
    """The server transaction key of `req` (17.2.3). `method` overrides the matched method (ACK and
    CANCEL look for their INVITE); `to_tag` overrides the To tag of an RFC 2543 key."""
    via = req.top_via
    m = method or ("INVITE" if req.method == "ACK" else req.method)
    if has_cookie(via.branch):
        return f"S {via.branch} {via.sent_by} {m} {req.cseq.number}"
    tag = req.to.tag if to_tag is None else to_tag
    parts = ("L", req.uri_text, req.from_.tag or "", tag or "", req.call_id, str(req.cseq.number), m)
    return " ".join((*parts, via.sent_by))


class TransactionLayer:
    def __init__(self, timers: TimerConfig | None = None) -> None:
        self.timers = timers or TimerConfig()
        self.stats = TxStats()
        self._txs: dict[TxKey, Transaction] = {}
        self._heap: list[tuple[float, int, TxKey]] = []
        self._armed: dict[TxKey, float] = {}  # key -> the deadline its live heap entry holds
        self._seq = itertools.count()

    def count(self) -> int:
        return len(self._txs)

    def get(self, key: TxKey) -> Transaction | None:
        return self._txs.get(key)

    # --- server side ---------------------------------------------------------------------------
    def receive_request(
        self, req: Request, source: Addr, now: float
    ) -> tuple[Request | None, list[StackOutput]]:
        if req.method == "ACK":
            return self._receive_ack(req, now)
        key = server_key(req)
        tx = self._txs.get(key)
        if tx is not None:
            assert isinstance(tx, ServerTransaction)
            out = tx.receive_request(req, now)
            self._update(key, tx)
            return None, list(out)
        dest = response_destination(req.top_via, source)
        cls = ServerInviteTransaction if req.method == "INVITE" else ServerNonInviteTransaction
        new = cls(req, dest, key=key, timers=self.timers, stats=self.stats)
        out = new.start(now)
        self._txs[key] = new
        self._update(key, new)
        return req, list(out)

    def _receive_ack(self, req: Request, now: float) -> tuple[Request | None, list[StackOutput]]:
        key, tx = self._match_ack(req)
        if tx is None:
            return req, []  # the ACK of a 2xx: end to end, for the dialog layer
        accepted = tx.state is TxState.ACCEPTED
        out = tx.receive_request(req, now)
        self._update(key, tx)
        return (req if accepted else None), list(out)

    def _match_ack(self, req: Request) -> tuple[TxKey, ServerInviteTransaction | None]:
        key = server_key(req)
        tx = self._txs.get(key)
        if tx is None and not has_cookie(req.top_via.branch):
            ack_tag = req.to.tag
            if ack_tag:  # RFC 2543: the INVITE had no To tag, our final response added it
                key = server_key(req, to_tag="")
                tx = self._txs.get(key)
                if isinstance(tx, ServerTransaction) and tx.final_to_tag not in (None, ack_tag):
                    tx = None
        return key, (tx if isinstance(tx, ServerInviteTransaction) else None)

    def respond(self, req_or_key: Request | TxKey, resp: Response, now: float) -> list[StackOutput]:
        key = req_or_key if isinstance(req_or_key, str) else server_key(req_or_key)
        tx = self._txs.get(key)
        if not isinstance(tx, ServerTransaction):
            self.stats.late_responses += 1
            return []
        out = tx.respond(resp, now)
        self._update(key, tx)
        return list(out)

    def cancel_target(self, cancel: Request) -> TxKey | None:
        key = server_key(cancel, method="INVITE")
        return key if isinstance(self._txs.get(key), ServerInviteTransaction) else None

    # --- client side ---------------------------------------------------------------------------
    def send_request(self, req: Request, dest: Addr, now: float) -> tuple[TxKey, list[StackOutput]]:
        if req.method == "ACK":
            raise ValueError("ACK is not a transaction: send it with Send(ack.render(), dest)")
        branch = req.top_via.branch
        if not has_cookie(branch):
            raise ValueError(f"client request needs a fresh z9hG4bK branch, not {branch!r}")
        assert branch is not None
        key = client_key(branch, req.method)
        if key in self._txs:
            raise ValueError(f"branch {branch} already in use")
        cls = ClientInviteTransaction if req.method == "INVITE" else ClientNonInviteTransaction
        tx = cls(req, dest, key=key, timers=self.timers, stats=self.stats)
        out = tx.start(now)
        self._txs[key] = tx
        self._update(key, tx)
        return key, list(out)

    def receive_response(self, resp: Response, now: float) -> list[StackOutput]:
        try:
            branch = resp.top_via.branch
            method = resp.cseq.method
        except (SipParseError, IndexError):
            self.stats.strays += 1
            return []
        key = client_key(branch, method) if branch else ""
        tx = self._txs.get(key)
        if not isinstance(tx, ClientTransaction):
            self.stats.strays += 1
            if method == "INVITE" and 200 <= resp.status < 300:
                return [StrayInvite2xx(resp)]
            return []
        out = tx.receive_response(resp, now)
        self._update(key, tx)
        return list(out)

    # --- timers --------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            d, _, key = heap[0]
            if self._armed.get(key) == d:
                return d
            heapq.heappop(heap)  # stale: re-armed or terminated since
        return None

    def on_timer(self, now: float) -> list[StackOutput]:
        out: list[StackOutput] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            d, _, key = heapq.heappop(heap)
            if self._armed.get(key) != d:
                continue
            del self._armed[key]
            tx = self._txs.get(key)
            if tx is None:
                continue
            out += tx.on_timer(now)
            self._update(key, tx)
        return out

    def _update(self, key: TxKey, tx: Transaction) -> None:
        """After any input: drop a terminated transaction, or re-arm its heap entry if it moved."""
        if tx.state is TxState.TERMINATED:
            self._txs.pop(key, None)
            self._armed.pop(key, None)
            return
        d = tx.next_deadline()
        if d is None:
            self._armed.pop(key, None)
            return
        if self._armed.get(key) == d:
            return
        self._armed[key] = d
        heapq.heappush(self._heap, (d, next(self._seq), key))
        if len(self._heap) > 2 * len(self._armed) + 64:
            self._heap = [(dl, next(self._seq), k) for k, dl in self._armed.items()]
            heapq.heapify(self._heap)
