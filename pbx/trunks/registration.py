"""Registrations of the PBX with its carriers (trunks with `register: true`): a pure state machine.

Per trunk: REGISTER (RFC 3261 10.2) to the carrier's host and port, answer a 401/407 once per
challenge with the trunk's credentials, and on 200 refresh at 80 % of the granted expiry
(the Expires of our Contact in the 200, else the Expires header, else what we asked for). A
failure (refused credentials, 403, no answer) is retried after `retry` seconds, as Asterisk's
`retry_interval`. The same Call-ID is kept and the CSeq counts up across refreshes (10.2.4).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pbx import log
from pbx.config.models import Trunk
from pbx.sip.addr import Addr
from pbx.sip.digest_client import answer, best_challenge
from pbx.sip.errors import SipParseError
from pbx.sip.message import Headers, Request, Response
from pbx.sip.stack import ResponseReceived, StackOutput, TransactionLayer, TransactionTimedOut, new_branch

logger = log.get("pbx.trunks")

Local = tuple[str, str, int]  # (transport, host, port) the PBX listens on
RETRY = 60.0
MIN_REFRESH = 30.0


class RegState(enum.Enum):
    IDLE = "idle"  # not sent yet
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"  # waiting to retry


@dataclass
class TrunkRegistration:
    trunk: Trunk
    call_id: str = field(default_factory=lambda: secrets.token_hex(12))
    from_tag: str = field(default_factory=lambda: secrets.token_hex(6))
    cseq: int = 0
    state: RegState = RegState.IDLE
    due: float | None = None  # when the next REGISTER goes out
    expires_at: float | None = None
    last_status: int | None = None
    answered_nonce: str | None = None  # the challenge we already answered (never twice: no loop)

    @property
    def dest(self) -> Addr:
        return Addr(self.trunk.transport, self.trunk.host, self.trunk.port)


class TrunkRegistrations:
    def __init__(self, tx: TransactionLayer, local: Callable[[], Sequence[Local]], server: str,
                 retry: float = RETRY) -> None:  # fmt: skip
        self.tx = tx
        self.local = local
        self.server = server
        self.retry = retry
        self.regs: dict[str, TrunkRegistration] = {}
        self._pending: dict[str, str] = {}  # client transaction key -> trunk name

    def configure(self, trunks: Sequence[Trunk], now: float) -> None:
        """Start registering new trunks at once; keep the state of unchanged ones; forget removed."""
        wanted = {t.name: t for t in trunks if t.register and t.username and t.password}
        for name in list(self.regs):
            if name not in wanted:
                del self.regs[name]
        for name, t in wanted.items():
            reg = self.regs.get(name)
            if reg is None or reg.trunk != t:
                self.regs[name] = TrunkRegistration(t, due=now)

    # --- timers ----------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        dues = [r.due for r in self.regs.values() if r.due is not None]
        return min(dues) if dues else None

    def on_timer(self, now: float) -> list[StackOutput]:
        out: list[StackOutput] = []
        for reg in self.regs.values():
            if reg.due is not None and reg.due <= now:
                reg.due = None
                if reg.state is RegState.REGISTERED and reg.expires_at is not None and reg.expires_at <= now:
                    reg.state = RegState.FAILED  # the refresh did not make it in time
                out += self._send(reg, now)
        return out

    # --- requests and responses -------------------------------------------------------------------
    def _send(
        self, reg: TrunkRegistration, now: float, auth: tuple[str, str] | None = None
    ) -> list[StackOutput]:
        t = reg.trunk
        loc = next((lt for lt in self.local() if lt[0] == t.transport), None)
        if loc is None:
            reg.state, reg.due = RegState.FAILED, now + self.retry
            return []
        lhost = f"[{loc[1]}]" if ":" in loc[1] else loc[1]
        rhost = f"[{t.host}]" if ":" in t.host else t.host
        reg.cseq += 1
        h = Headers()
        h.add("via", f"SIP/2.0/{t.transport.upper()} {lhost}:{loc[2]};branch={new_branch()};rport")
        h.add("max-forwards", "70")
        h.add("from", f"<sip:{t.username}@{rhost}>;tag={reg.from_tag}")
        h.add("to", f"<sip:{t.username}@{rhost}>")
        h.add("call-id", reg.call_id)
        h.add("cseq", f"{reg.cseq} REGISTER")
        tp = "" if t.transport == "udp" else f";transport={t.transport}"
        h.add("contact", f"<sip:{t.username}@{lhost}:{loc[2]}{tp}>")
        h.add("expires", str(t.register_expires))
        h.add("user-agent", self.server)
        if auth is not None:
            h.add(*auth)
        h.add("content-length", "0")
        req = Request("REGISTER", f"sip:{rhost}:{t.port}", h)
        key, effects = self.tx.send_request(req, reg.dest, now)
        self._pending[key] = t.name
        if reg.state is not RegState.REGISTERED:
            reg.state = RegState.REGISTERING
        return effects

    def owns(self, key: str) -> bool:
        return key in self._pending

    def on_tx_event(self, ev: ResponseReceived | TransactionTimedOut, now: float) -> list[StackOutput]:
        name = self._pending.get(ev.key)
        reg = self.regs.get(name) if name is not None else None
        if isinstance(ev, ResponseReceived) and ev.response.status < 200:
            return []
        self._pending.pop(ev.key, None)
        if reg is None:
            return []
        if isinstance(ev, TransactionTimedOut):
            return self._failed(reg, 408, now)
        resp = ev.response
        reg.last_status = resp.status
        if 200 <= resp.status < 300:
            granted = _granted(resp, reg.trunk.register_expires, reg.trunk.username)
            reg.state, reg.expires_at, reg.answered_nonce = RegState.REGISTERED, now + granted, None
            reg.due = now + max(MIN_REFRESH, granted * 0.8)
            logger.info("trunk_registered", trunk=reg.trunk.name, expires=granted)
            return []
        if resp.status in (401, 407):
            name_ = "www-authenticate" if resp.status == 401 else "proxy-authenticate"
            ch = best_challenge(resp.headers.get_all(name_))
            if ch is not None and ch.nonce != reg.answered_nonce:
                t = reg.trunk
                assert t.username is not None and t.password is not None
                reg.answered_nonce = ch.nonce
                uri = f"sip:[{t.host}]:{t.port}" if ":" in t.host else f"sip:{t.host}:{t.port}"
                value = answer(ch, "REGISTER", uri, t.username, t.password, secrets.token_hex(8))
                header = "authorization" if resp.status == 401 else "proxy-authorization"
                return self._send(reg, now, (header, value))
        if resp.status == 423:
            min_expires = resp.headers.get("min-expires")
            logger.warning("trunk_register_interval_too_brief", trunk=reg.trunk.name, min_expires=min_expires)
        return self._failed(reg, resp.status, now)

    def _failed(self, reg: TrunkRegistration, status: int, now: float) -> list[StackOutput]:
        reg.state, reg.last_status, reg.due, reg.answered_nonce = (
            RegState.FAILED,
            status,
            now + self.retry,
            None,
        )
        reg.expires_at = None
        logger.warning("trunk_register_failed", trunk=reg.trunk.name, status=status, retry_in=self.retry)
        return []

    def registered(self) -> int:
        return sum(1 for r in self.regs.values() if r.state is RegState.REGISTERED)


def _granted(resp: Response, asked: int, username: str | None) -> float:
    try:
        for c in resp.contacts:
            if c.uri.user_unescaped != username:
                continue  # another binding of the same account
            exp = c.param("expires")
            if exp is not None and exp.isdigit():
                return float(exp)
    except SipParseError:
        pass
    value = resp.headers.get("expires")
    if value is not None and value.strip().isdigit():
        return float(value.strip())
    return float(asked)
