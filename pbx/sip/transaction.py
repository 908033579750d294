# How this works
# --------------
# The four SIP transaction state machines of RFC 3261 section 17, sans-IO:
#   ClientInviteTransaction     fig. 5 (17.1.1), Timers A, B, D, plus RFC 6026 Accepted + Timer M
#   ClientNonInviteTransaction  fig. 6 (17.1.2), Timers E, F, K
#   ServerInviteTransaction     fig. 7 (17.2.1), Timers G, H, I, plus RFC 6026 Accepted + Timer L,
#                               plus the 200 ms "send 100 Trying" deadline of 17.2.1
#   ServerNonInviteTransaction  fig. 8 (17.2.2), Timer J
# Each machine is a transition table `(state, input kind) -> (new state, step)`, as in h11. An
# input is a message event (a response received, a response the TU sends, a retransmitted request,
# an ACK) or a `Timer` that fired; its kind is its class, or the Timer member itself. The step runs,
# returns effects (`Send`) and upward events (`ResponseReceived`, `TransactionTimedOut`), and the
# state becomes the new state. A missing entry raises `InvalidTransition`: inputs that the network
# may legally or harmlessly send in a state have explicit "absorb"/"ignore" entries, so only misuse
# by our own TU (say, a second final response) raises.
#
# Timers are deadlines in a small dict, never tasks: `next_deadline()` says when to call
# `on_timer(now)`, which fires every due timer in deadline order. A timer of zero seconds (D, I, J,
# K over a reliable transport, 17.1.1.2 etc.) fires within the same call that armed it. Over a
# reliable transport nothing is retransmitted (no Timer A, E or G).
# A transaction keeps the rendered bytes of what it last sent, so a retransmission renders nothing.
"""SIP transactions (RFC 3261 section 17, RFC 6026): four sans-IO state machines and their timers."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pbx.sip.addr import Addr
from pbx.sip.effects import Send
from pbx.sip.errors import SipParseError
from pbx.sip.message import Headers, Request, Response, make_response

TxKey = str  # opaque, printable; built by pbx.sip.stack from the RFC 17.1.3 / 17.2.3 matching rules


class TxState(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"  # RFC 6026
    TERMINATED = "terminated"


class Timer(enum.Enum):
    A = "A"  # INVITE request retransmit, T1 doubling (unreliable only)
    B = "B"  # INVITE transaction timeout, 64*T1
    D = "D"  # wait for response retransmissions, >= 32 s unreliable, 0 reliable
    E = "E"  # non-INVITE request retransmit, T1 doubling up to T2 (unreliable only)
    F = "F"  # non-INVITE transaction timeout, 64*T1
    G = "G"  # INVITE final response retransmit, T1 doubling up to T2 (unreliable only)
    H = "H"  # wait for ACK, 64*T1
    I = "I"  # noqa: E741  (the RFC's name) wait for ACK retransmissions, T4 unreliable, 0 reliable
    J = "J"  # wait for non-INVITE request retransmissions, 64*T1 unreliable, 0 reliable
    K = "K"  # wait for non-INVITE response retransmissions, T4 unreliable, 0 reliable
    L = "L"  # RFC 6026: server INVITE Accepted, 64*T1
    M = "M"  # RFC 6026: client INVITE Accepted, 64*T1
    TRYING = "100"  # RFC 3261 17.2.1: send 100 Trying if the TU has not answered within 200 ms


# When two timers fall due at the same instant, the one that ends the transaction goes first, so
# a transaction that is about to time out does not retransmit once more.
_RETRANSMIT_TIMERS = frozenset({Timer.A, Timer.E, Timer.G, Timer.TRYING})


@dataclass(frozen=True, slots=True)
class TimerConfig:
    t1: float = 0.5  # RTT estimate
    t2: float = 4.0  # maximum retransmit interval for non-INVITE requests and INVITE responses
    t4: float = 5.0  # maximum time a message stays in the network
    trying: float = 0.2  # RFC 3261 17.2.1: 100 Trying deadline of a server INVITE transaction
    d: float = 32.0  # Timer D over an unreliable transport ("> 32 s")

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J (unreliable), L and M."""
        return 64 * self.t1


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseInput:
    response: Response


class ProvisionalReceived(ResponseInput):  # client: 1xx from the network
    __slots__ = ()


class SuccessReceived(ResponseInput):  # client: 2xx
    __slots__ = ()


class FailureReceived(ResponseInput):  # client: 300-699
    __slots__ = ()


class SendProvisional(ResponseInput):  # server: the TU sends a 1xx
    __slots__ = ()


class SendSuccess(ResponseInput):  # server: the TU sends a 2xx (and, RFC 6026, its retransmissions)
    __slots__ = ()


class SendFailure(ResponseInput):  # server: the TU sends a 300-699
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RequestInput:
    request: Request


class RequestRetransmitted(RequestInput):  # server: the request again, from the network
    __slots__ = ()


class AckReceived(RequestInput):  # server INVITE: an ACK matching the transaction
    __slots__ = ()


TxInput = ResponseInput | RequestInput | Timer


# --- outputs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """Client side: a response the TU must see (every 1xx, the final, RFC 6026 2xx copies)."""

    key: TxKey
    response: Response


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B or F (no final response: the TU acts as on a 408) or Timer H (the ACK never came)."""

    key: TxKey
    timer: str  # "B", "F" or "H"


TxOutput = Send | ResponseReceived | TransactionTimedOut


@dataclass
class TxStats:
    """Counters shared by every transaction of a TransactionLayer."""

    retransmissions_sent: int = 0  # requests on A/E, responses on G, resends on retransmissions
    retransmissions_absorbed: int = 0  # retransmitted requests, ACKs and final responses
    timeouts: Counter[str] = field(default_factory=Counter)  # by timer: "B", "F", "H"
    strays: int = 0  # responses matching no client transaction
    late_responses: int = 0  # TU responses for a transaction that no longer exists


class InvalidTransition(Exception):
    """An input the state machine has no transition for: a bug in the caller (h11's LocalProtocolError)."""

    def __init__(self, state: TxState, inp: TxInput) -> None:
        name = inp.name if isinstance(inp, Timer) else type(inp).__name__
        super().__init__(f"no transition from {state.name} on {name}")
        self.state = state
        self.input = inp


Step = Callable[[Any, Any, float], list[TxOutput]]
Table = dict[tuple[TxState, type[ResponseInput] | type[RequestInput] | Timer], tuple[TxState, Step]]

_S = TxState


class Transaction:
    """What the four machines share: the table walk, the timer dict, the last bytes sent."""

    TABLE: ClassVar[Table]
    INITIAL: ClassVar[TxState]

    def __init__(
        self,
        request: Request,
        dest: Addr,
        *,
        key: TxKey | None = None,
        timers: TimerConfig | None = None,
        stats: TxStats | None = None,
    ) -> None:
        self.request = request
        self.dest = dest
        self.reliable = dest.reliable
        self.key: TxKey = key if key is not None else f"{request.top_via.branch} {request.method}"
        self.timers = timers or TimerConfig()
        self.stats = stats if stats is not None else TxStats()
        self.state = self.INITIAL
        self._deadlines: dict[Timer, float] = {}
        self._last: bytes | None = None  # bytes of the last message sent (request or response)
        self._interval = self.timers.t1  # current Timer A, E or G interval

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key} {self.state.name}>"

    def start(self, now: float) -> list[TxOutput]:
        """Arm the initial timers; a client transaction also sends its request."""
        raise NotImplementedError

    def handle(self, inp: TxInput, now: float) -> list[TxOutput]:
        out = self._step(inp, now)
        out += self._fire_due(now)  # zero-second timers armed by this step
        return out

    def on_timer(self, now: float) -> list[TxOutput]:
        return self._fire_due(now)

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values()) if self._deadlines else None

    def deadline(self, timer: Timer) -> float | None:
        return self._deadlines.get(timer)

    # --- machinery ---
    def _step(self, inp: TxInput, now: float) -> list[TxOutput]:
        kind = inp if isinstance(inp, Timer) else type(inp)
        entry = self.TABLE.get((self.state, kind))
        if entry is None:
            raise InvalidTransition(self.state, inp)
        new_state, step = entry
        out = step(self, inp, now)
        self.state = new_state
        if new_state is _S.TERMINATED:
            self._deadlines.clear()
        return out

    def _fire_due(self, now: float) -> list[TxOutput]:
        out: list[TxOutput] = []
        while self._deadlines and self.state is not _S.TERMINATED:
            timer, when = min(self._deadlines.items(), key=lambda kv: (kv[1], kv[0] in _RETRANSMIT_TIMERS))
            if when > now:
                break
            del self._deadlines[timer]
            out += self._step(timer, now)
        return out

    def _arm(self, timer: Timer, delay: float, now: float) -> None:
        self._deadlines[timer] = now + delay

    def _cancel(self, *timers: Timer) -> None:
        for t in timers:
            self._deadlines.pop(t, None)

    def _resend(self) -> list[TxOutput]:
        if self._last is None:
            return []
        self.stats.retransmissions_sent += 1
        return [Send(self._last, self.dest)]

    # steps shared by several tables
    def _ignore(self, inp: TxInput, now: float) -> list[TxOutput]:
        return []

    def _absorb(self, inp: TxInput, now: float) -> list[TxOutput]:
        self.stats.retransmissions_absorbed += 1
        return []

    def _terminate(self, inp: TxInput, now: float) -> list[TxOutput]:
        return []

    def _timed_out(self, inp: TxInput, now: float) -> list[TxOutput]:
        assert isinstance(inp, Timer)
        self.stats.timeouts[inp.value] += 1
        return [TransactionTimedOut(self.key, inp.value)]


# --- client transactions -----------------------------------------------------------------------


class ClientTransaction(Transaction):
    def _send_request(self, retransmit: Timer, timeout: Timer, now: float) -> list[TxOutput]:
        if not self.reliable:
            self._arm(retransmit, self._interval, now)
        self._arm(timeout, self.timers.timeout, now)
        self._last = self.request.render()
        return [Send(self._last, self.dest)]

    def receive_response(self, resp: Response, now: float) -> list[TxOutput]:
        inp: ResponseInput
        if resp.status < 200:
            inp = ProvisionalReceived(resp)
        elif resp.status < 300:
            inp = SuccessReceived(resp)
        else:
            inp = FailureReceived(resp)
        return self.handle(inp, now)

    def _pass_up(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        return [ResponseReceived(self.key, inp.response)]


class ClientInviteTransaction(ClientTransaction):
    INITIAL = _S.CALLING

    ack: bytes | None = None  # the ACK for a non-2xx final, built once (17.1.1.3)

    def start(self, now: float) -> list[TxOutput]:
        return self._send_request(Timer.A, Timer.B, now)

    def _retransmit(self, inp: Timer, now: float) -> list[TxOutput]:
        self._interval *= 2  # Timer A doubles without a cap: 0.5, 1.5, 3.5, 7.5 ... until Timer B
        self._arm(Timer.A, self._interval, now)
        return self._resend()

    def _proceed(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        self._cancel(Timer.A, Timer.B)  # fig. 5: Timer B only guards the Calling state
        return self._pass_up(inp, now)

    def _accept(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        # RFC 6026: the TU ACKs the 2xx end to end; copies of the 2xx (other forks, or lost
        # ACKs) keep coming to the TU until Timer M.
        self._cancel(Timer.A, Timer.B)
        self._arm(Timer.M, self.timers.timeout, now)
        return self._pass_up(inp, now)

    def _complete(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        self._cancel(Timer.A, Timer.B)
        self._arm(Timer.D, 0.0 if self.reliable else self.timers.d, now)
        self.ack = build_ack(self.request, inp.response).render()
        return [Send(self.ack, self.dest), *self._pass_up(inp, now)]

    def _reack(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        self.stats.retransmissions_absorbed += 1
        self.stats.retransmissions_sent += 1
        assert self.ack is not None
        return [Send(self.ack, self.dest)]


def build_ack(invite: Request, resp: Response) -> Request:
    """The ACK for a non-2xx final response, RFC 3261 17.1.1.3: the INVITE's Request-URI, top Via,
    From, Call-ID, CSeq number and Route set, with the To of the response (it carries the tag)."""
    h = Headers()
    h.add("via", invite.headers.get("via") or "")
    for route in invite.headers.get_all("route"):
        h.add("route", route)
    h.add("max-forwards", invite.headers.get("max-forwards") or "70")
    h.add("from", invite.headers.get("from") or "")
    h.add("to", resp.headers.get("to") or "")
    h.add("call-id", invite.call_id)
    h.add("cseq", f"{invite.cseq.number} ACK")
    return Request("ACK", invite.uri_text, h)


_CI = ClientInviteTransaction
ClientInviteTransaction.TABLE = {
    (_S.CALLING, Timer.A): (_S.CALLING, _CI._retransmit),
    (_S.CALLING, Timer.B): (_S.TERMINATED, _CI._timed_out),
    (_S.CALLING, ProvisionalReceived): (_S.PROCEEDING, _CI._proceed),
    (_S.CALLING, SuccessReceived): (_S.ACCEPTED, _CI._accept),
    (_S.CALLING, FailureReceived): (_S.COMPLETED, _CI._complete),
    (_S.PROCEEDING, ProvisionalReceived): (_S.PROCEEDING, _CI._pass_up),
    (_S.PROCEEDING, SuccessReceived): (_S.ACCEPTED, _CI._accept),
    (_S.PROCEEDING, FailureReceived): (_S.COMPLETED, _CI._complete),
    (_S.COMPLETED, FailureReceived): (_S.COMPLETED, _CI._reack),
    (_S.COMPLETED, ProvisionalReceived): (_S.COMPLETED, _CI._ignore),
    (_S.COMPLETED, SuccessReceived): (_S.COMPLETED, _CI._ignore),  # a 2xx after a failure: bogus
    (_S.COMPLETED, Timer.D): (_S.TERMINATED, _CI._terminate),
    (_S.ACCEPTED, SuccessReceived): (_S.ACCEPTED, _CI._pass_up),
    (_S.ACCEPTED, ProvisionalReceived): (_S.ACCEPTED, _CI._ignore),
    (_S.ACCEPTED, FailureReceived): (_S.ACCEPTED, _CI._ignore),
    (_S.ACCEPTED, Timer.M): (_S.TERMINATED, _CI._terminate),
}


class ClientNonInviteTransaction(ClientTransaction):
    INITIAL = _S.TRYING

    def start(self, now: float) -> list[TxOutput]:
        return self._send_request(Timer.E, Timer.F, now)

    def _retransmit_trying(self, inp: Timer, now: float) -> list[TxOutput]:
        self._interval = min(2 * self._interval, self.timers.t2)
        self._arm(Timer.E, self._interval, now)
        return self._resend()

    def _retransmit_proceeding(self, inp: Timer, now: float) -> list[TxOutput]:
        self._interval = self.timers.t2  # 17.1.2.2: in Proceeding, Timer E is reset to T2
        self._arm(Timer.E, self._interval, now)
        return self._resend()

    def _complete(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        self._cancel(Timer.E, Timer.F)
        self._arm(Timer.K, 0.0 if self.reliable else self.timers.t4, now)
        return self._pass_up(inp, now)


_CN = ClientNonInviteTransaction
ClientNonInviteTransaction.TABLE = {
    (_S.TRYING, Timer.E): (_S.TRYING, _CN._retransmit_trying),
    (_S.TRYING, Timer.F): (_S.TERMINATED, _CN._timed_out),
    (_S.TRYING, ProvisionalReceived): (_S.PROCEEDING, _CN._pass_up),
    (_S.TRYING, SuccessReceived): (_S.COMPLETED, _CN._complete),
    (_S.TRYING, FailureReceived): (_S.COMPLETED, _CN._complete),
    (_S.PROCEEDING, Timer.E): (_S.PROCEEDING, _CN._retransmit_proceeding),
    (_S.PROCEEDING, Timer.F): (_S.TERMINATED, _CN._timed_out),
    (_S.PROCEEDING, ProvisionalReceived): (_S.PROCEEDING, _CN._pass_up),
    (_S.PROCEEDING, SuccessReceived): (_S.COMPLETED, _CN._complete),
    (_S.PROCEEDING, FailureReceived): (_S.COMPLETED, _CN._complete),
    (_S.COMPLETED, ProvisionalReceived): (_S.COMPLETED, _CN._ignore),
    (_S.COMPLETED, SuccessReceived): (_S.COMPLETED, _CN._absorb),
    (_S.COMPLETED, FailureReceived): (_S.COMPLETED, _CN._absorb),
    (_S.COMPLETED, Timer.K): (_S.TERMINATED, _CN._terminate),
}


# --- server transactions -----------------------------------------------------------------------


class ServerTransaction(Transaction):
    """`dest` is where responses go: `response_destination(top Via, source)` (RFC 3261 18.2.2)."""

    last_response: Response | None = None

    @property
    def final_to_tag(self) -> str | None:
        """To tag of the final response sent (RFC 2543 ACK matching), parsed only when asked."""
        r = self.last_response
        if r is None or r.status < 200:
            return None
        try:
            return r.to.tag
        except SipParseError:
            return None

    def start(self, now: float) -> list[TxOutput]:
        return []

    def receive_request(self, req: Request, now: float) -> list[TxOutput]:
        """A request that matched this transaction: a retransmission, or (INVITE) its ACK."""
        if req.method == "ACK":
            return self.handle(AckReceived(req), now)
        return self.handle(RequestRetransmitted(req), now)

    def respond(self, resp: Response, now: float) -> list[TxOutput]:
        """Send a response from the TU. Rendered once; the same object sent again reuses the bytes."""
        inp: ResponseInput
        if resp.status < 200:
            inp = SendProvisional(resp)
        elif resp.status < 300:
            inp = SendSuccess(resp)
        else:
            inp = SendFailure(resp)
        return self.handle(inp, now)

    def _send(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        resp = inp.response
        if resp is not self.last_response or self._last is None:
            self._last = resp.render()
            self.last_response = resp
        return [Send(self._last, self.dest)]

    def _resend_last(self, inp: RequestInput, now: float) -> list[TxOutput]:
        self.stats.retransmissions_absorbed += 1
        return self._resend()


class ServerInviteTransaction(ServerTransaction):
    INITIAL = _S.PROCEEDING

    def start(self, now: float) -> list[TxOutput]:
        self._arm(Timer.TRYING, self.timers.trying, now)
        return []

    def _send_trying(self, inp: Timer, now: float) -> list[TxOutput]:
        # 17.2.1: the TU has been silent for 200 ms; 100 Trying stops the client's Timer A.
        ts = self.request.headers.get("timestamp")
        trying = make_response(self.request, 100, extra=[("timestamp", ts)] if ts else ())
        return self._send(SendProvisional(trying), now)

    def _send_provisional(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        self._cancel(Timer.TRYING)
        return self._send(inp, now)

    def _send_success(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        self._cancel(Timer.TRYING)
        self._arm(Timer.L, self.timers.timeout, now)
        return self._send(inp, now)

    def _send_failure(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        self._cancel(Timer.TRYING)
        if not self.reliable:
            self._arm(Timer.G, self._interval, now)
        self._arm(Timer.H, self.timers.timeout, now)
        return self._send(inp, now)

    def _retransmit_final(self, inp: Timer, now: float) -> list[TxOutput]:
        self._interval = min(2 * self._interval, self.timers.t2)
        self._arm(Timer.G, self._interval, now)
        return self._resend()

    def _confirm(self, inp: RequestInput, now: float) -> list[TxOutput]:
        self._cancel(Timer.G, Timer.H)
        self._arm(Timer.I, 0.0 if self.reliable else self.timers.t4, now)
        return []


_SI = ServerInviteTransaction
ServerInviteTransaction.TABLE = {
    (_S.PROCEEDING, Timer.TRYING): (_S.PROCEEDING, _SI._send_trying),
    (_S.PROCEEDING, RequestRetransmitted): (_S.PROCEEDING, _SI._resend_last),
    (_S.PROCEEDING, AckReceived): (_S.PROCEEDING, _SI._ignore),  # ACK before any final: bogus
    (_S.PROCEEDING, SendProvisional): (_S.PROCEEDING, _SI._send_provisional),
    (_S.PROCEEDING, SendSuccess): (_S.ACCEPTED, _SI._send_success),
    (_S.PROCEEDING, SendFailure): (_S.COMPLETED, _SI._send_failure),
    (_S.COMPLETED, RequestRetransmitted): (_S.COMPLETED, _SI._resend_last),
    (_S.COMPLETED, Timer.G): (_S.COMPLETED, _SI._retransmit_final),
    (_S.COMPLETED, Timer.H): (_S.TERMINATED, _SI._timed_out),
    (_S.COMPLETED, AckReceived): (_S.CONFIRMED, _SI._confirm),
    (_S.CONFIRMED, AckReceived): (_S.CONFIRMED, _SI._absorb),
    (_S.CONFIRMED, RequestRetransmitted): (_S.CONFIRMED, _SI._absorb),
    (_S.CONFIRMED, Timer.I): (_S.TERMINATED, _SI._terminate),
    # RFC 6026 7.1: the TU retransmits the 2xx through the transaction; the transaction absorbs
    # INVITE retransmissions without answering them and passes ACKs up (the stack does that).
    (_S.ACCEPTED, SendSuccess): (_S.ACCEPTED, _SI._send),
    (_S.ACCEPTED, RequestRetransmitted): (_S.ACCEPTED, _SI._absorb),
    (_S.ACCEPTED, AckReceived): (_S.ACCEPTED, _SI._ignore),
    (_S.ACCEPTED, Timer.L): (_S.TERMINATED, _SI._terminate),
}


class ServerNonInviteTransaction(ServerTransaction):
    INITIAL = _S.TRYING

    def _send_final(self, inp: ResponseInput, now: float) -> list[TxOutput]:
        self._arm(Timer.J, 0.0 if self.reliable else self.timers.timeout, now)
        return self._send(inp, now)


_SN = ServerNonInviteTransaction
ServerNonInviteTransaction.TABLE = {
    (_S.TRYING, RequestRetransmitted): (_S.TRYING, _SN._absorb),  # 17.2.2: discarded in Trying
    (_S.TRYING, SendProvisional): (_S.PROCEEDING, _SN._send),
    (_S.TRYING, SendSuccess): (_S.COMPLETED, _SN._send_final),
    (_S.TRYING, SendFailure): (_S.COMPLETED, _SN._send_final),
    (_S.PROCEEDING, RequestRetransmitted): (_S.PROCEEDING, _SN._resend_last),
    (_S.PROCEEDING, SendProvisional): (_S.PROCEEDING, _SN._send),
    (_S.PROCEEDING, SendSuccess): (_S.COMPLETED, _SN._send_final),
    (_S.PROCEEDING, SendFailure): (_S.COMPLETED, _SN._send_final),
    (_S.COMPLETED, RequestRetransmitted): (_S.COMPLETED, _SN._resend_last),
    (_S.COMPLETED, Timer.J): (_S.TERMINATED, _SN._terminate),
}
