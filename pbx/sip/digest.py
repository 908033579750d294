"""Digest authentication for a registrar or proxy (RFC 3261 section 22.4, RFC 2617, RFC 7616, RFC 8760).

How it works:
- `challenge(now)` gives WWW-Authenticate / Proxy-Authenticate values. With SHA-256 enabled the
  SHA-256 challenge comes first and the MD5 one second (RFC 8760 section 2.4: the UAC uses the
  first algorithm it supports; clients that only read one header, such as pyVoIP, read the last).
- Nonces are stateless: base64url(issue time in ms (8 bytes) | counter (4) | HMAC-SHA256(secret,
  realm | time | counter) truncated to 18 bytes). They survive a restart, cannot be forged, and the
  counter keeps two nonces issued in the same millisecond apart (each nonce has its own nc).
  A genuine nonce older than `nonce_ttl` (or from the "future", after a reboot resets the
  monotonic clock) is STALE: the client is challenged again with `stale=true` and retries silently.
- With qop=auth (RFC 2617 3.2.2), the nonce-count must grow per nonce; the highest nc seen is kept
  per nonce in an insertion-ordered dict, pruned by age and capped in size. Without qop (RFC 2069,
  as pyVoIP answers) a nonce may be reused until it is stale.
- Checks run in an order that never reveals whether a user exists: everything that does not depend
  on the user is checked first, then the response is computed against the user's HA1 or, for an
  unknown user, against a dummy HA1, and compared with `hmac.compare_digest`. `stale` is reported
  only when the response itself was right (RFC 2617 3.2.1), so guessing never yields STALE.
- The digest `uri=` is what the client hashed, so it is used as sent; it only has to name the same
  scheme and host as the Request-URI (ports compared when both give one; user and parameters are
  ignored: pyVoIP sends `uri="sip:<server>;transport=UDP"` for both REGISTER and INVITE).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import itertools
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pbx.sip.errors import SipParseError
from pbx.sip.headers import parse_auth_params
from pbx.sip.uri import Uri, parse_uri

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda b: hashlib.md5(b).hexdigest(),
    "SHA-256": lambda b: hashlib.sha256(b).hexdigest(),
}
_NONCE_LEN = 30  # 8 time + 4 counter + 18 MAC: a multiple of 3, so no base64 padding
_MAC_LEN = 18
_NC_CAP = 100_000  # nonces tracked for nonce-count replay
_HEX = frozenset("0123456789abcdefABCDEF")
_ISSUED_CAP = 4096  # recently issued nonces remembered (about 3 s of challenges at 1,500/s)


class AuthResult(enum.Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials at all
    STALE = "stale"  # right answer, genuine but expired nonce: challenge with stale=true
    WRONG_PASSWORD = "wrong_password"
    UNKNOWN_USER = "unknown_user"
    BAD_NONCE = "bad_nonce"  # not one of ours (forged, mangled, other server)
    REPLAY = "replay"  # nonce-count not increasing
    URI_MISMATCH = "uri_mismatch"  # digest uri= names another target than the Request-URI
    BAD_REALM = "bad_realm"
    UNSUPPORTED = "unsupported"  # unknown scheme, algorithm or qop
    MALFORMED = "malformed"  # Digest credentials missing a required parameter, or unparsable

    @property
    def is_failure(self) -> bool:
        """Counts as a failed attempt (for bans and metrics); MISSING and STALE are normal steps."""
        return self not in (AuthResult.OK, AuthResult.MISSING, AuthResult.STALE)


def ha1(user: str, realm: str, password: str, algo: str = "MD5") -> str:
    """H(username:realm:password) in lower-case hex (RFC 7616 section 3.4.2)."""
    return _HASHES[algo](f"{user}:{realm}:{password}".encode())


@dataclass(frozen=True, slots=True)
class Credential:
    """What the credential backend knows of one account: HA1 per algorithm, never the password."""

    username: str
    ha1_md5: str
    ha1_sha256: str | None = None

    @classmethod
    def from_password(cls, username: str, realm: str, password: str) -> Credential:
        return cls(username, ha1(username, realm, password, "MD5"), ha1(username, realm, password, "SHA-256"))

    def ha1_for(self, algo: str) -> str | None:
        return self.ha1_md5.lower() if algo == "MD5" else self.ha1_sha256


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode("ascii")


def _uri_refers_to(digest_uri: str, request_uri: Uri) -> bool:
    try:
        u = parse_uri(digest_uri)
    except SipParseError:
        return _unbracketed_ipv6(digest_uri, request_uri)
    if u.scheme != request_uri.scheme:
        return False
    if not u.is_sip:
        return u.text == request_uri.text
    if u.host_key != request_uri.host_key:
        return False
    return u.port is None or request_uri.port is None or u.port == request_uri.port


def _unbracketed_ipv6(digest_uri: str, request_uri: Uri) -> bool:
    """SIPp (3.6) hashes `uri="sip:::1:5060"` for a Request-URI `sip:[::1]:5060`: the same target
    with the IPv6 brackets lost. Accepted: the response is still checked over the uri as sent."""
    if ":" not in request_uri.host:
        return False
    port = f":{request_uri.port}" if request_uri.port is not None else ""
    return digest_uri.lower() == f"{request_uri.scheme}:{request_uri.host.strip('[]')}{port}".lower()


class DigestAuth:
    def __init__(
        self,
        realm: str,
        secret: bytes,
        nonce_ttl: float = 300,
        qop: bool = True,
        sha256: bool = False,
        opaque: str | None = None,
    ) -> None:
        self.realm = realm
        self.nonce_ttl = nonce_ttl
        self.qop = qop
        self.sha256 = sha256
        self.opaque = opaque
        self._secret = secret
        self._counter = itertools.count()
        self._nc: OrderedDict[str, tuple[int, float]] = OrderedDict()  # nonce -> (highest nc, issued)
        self._dummy = {a: h(b"dummy:" + secret) for a, h in _HASHES.items()}
        self._mac_prefix = realm.encode() + b"\0"
        self._issued: dict[str, float] = {}  # recent nonces -> issue time, oldest first

    # --- challenges ---------------------------------------------------------------------------

    def challenge(self, now: float, stale: bool = False) -> list[str]:
        """Header values for WWW-Authenticate (401) or Proxy-Authenticate (407)."""
        nonce = self.make_nonce(now)
        algos = ["SHA-256", "MD5"] if self.sha256 else ["MD5"]
        return [self._challenge_value(nonce, a, stale) for a in algos]

    def _challenge_value(self, nonce: str, algo: str, stale: bool) -> str:
        parts = [f'Digest realm="{self.realm}"', f'nonce="{nonce}"']
        if self.opaque is not None:
            parts.append(f'opaque="{self.opaque}"')
        if stale:
            parts.append("stale=true")
        parts.append(f"algorithm={algo}")
        if self.qop:
            parts.append('qop="auth"')
        return ", ".join(parts)

    def make_nonce(self, now: float) -> str:
        ms = int(now * 1000)
        head = struct.pack(">qI", ms, next(self._counter) & 0xFFFFFFFF)
        nonce = _b64e(head + self._mac(head))
        # The answer to a challenge comes back within milliseconds: remember the last few
        # thousand nonces so their check skips decoding and the HMAC (older ones still verify).
        issued = self._issued
        if len(issued) >= _ISSUED_CAP:
            del issued[next(iter(issued))]
        issued[nonce] = float(ms) / 1000.0
        return nonce

    def _mac(self, head: bytes) -> bytes:
        # hmac.digest is the one-shot C implementation: no HMAC object per nonce.
        return hmac.digest(self._secret, self._mac_prefix + head, "sha256")[:_MAC_LEN]

    def nonce_issued(self, nonce: str) -> float | None:
        """Issue time (monotonic seconds) of a nonce we made, or None if it is not ours."""
        issued = self._issued.get(nonce)
        if issued is not None:
            return issued
        if len(nonce) != _NONCE_LEN * 4 // 3:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        head, mac = raw[:12], raw[12:]
        if not hmac.compare_digest(mac, self._mac(head)):
            return None
        ms, _ = struct.unpack(">qI", head)
        return float(ms) / 1000.0

    # --- verification -------------------------------------------------------------------------

    def verify(
        self,
        method: str,
        credentials_header_value: str | None,
        lookup: Callable[[str], Credential | None],
        now: float,
        request_uri: Uri | None = None,
    ) -> tuple[AuthResult, str | None]:
        """Check one Authorization / Proxy-Authorization value. Returns (result, username).

        `request_uri` is the Request-URI of the request; when given, the digest `uri=` must refer to
        it. The username is returned whenever the credentials name one (for logs and ban logic).
        """
        if credentials_header_value is None or not credentials_header_value.strip():
            return AuthResult.MISSING, None
        try:
            scheme, p = parse_auth_params(credentials_header_value)
        except SipParseError:
            return AuthResult.MALFORMED, None
        return self.verify_parsed(method, scheme, p, lookup, now, request_uri)

    def verify_parsed(
        self,
        method: str,
        scheme: str,
        p: dict[str, str],
        lookup: Callable[[str], Credential | None],
        now: float,
        request_uri: Uri | None = None,
    ) -> tuple[AuthResult, str | None]:
        """`verify` for a credentials value the caller has already split with `parse_auth_params`
        (a registrar reads the realm of each Authorization header to pick its own)."""
        if scheme != "digest":
            return AuthResult.UNSUPPORTED, None
        username = p.get("username")
        if username is None or "realm" not in p or "nonce" not in p or "uri" not in p or "response" not in p:
            return AuthResult.MALFORMED, username
        algo = p.get("algorithm", "MD5").upper()
        if algo not in _HASHES or (algo == "SHA-256" and not self.sha256) or p.get("userhash") == "true":
            return AuthResult.UNSUPPORTED, username
        qop = p.get("qop")
        nc = 0
        if qop is not None:
            if qop.lower() != "auth" or not self.qop:
                return AuthResult.UNSUPPORTED, username
            ncs, cnonce = p.get("nc", ""), p.get("cnonce", "")
            if len(ncs) != 8 or not cnonce or not _HEX.issuperset(ncs):
                return AuthResult.MALFORMED, username
            nc = int(ncs, 16)
        if p["realm"] != self.realm:
            return AuthResult.BAD_REALM, username
        nonce = p["nonce"]
        issued = self.nonce_issued(nonce)
        if issued is None:
            return AuthResult.BAD_NONCE, username
        if request_uri is not None and not _uri_refers_to(p["uri"], request_uri):
            return AuthResult.URI_MISMATCH, username

        cred = lookup(username)
        secret_ha1 = cred.ha1_for(algo) if cred is not None else None
        # Same work whether or not the user exists (or has an HA1 for this algorithm).
        h = _HASHES[algo]
        ha2 = h(f"{method}:{p['uri']}".encode())
        key = secret_ha1 if secret_ha1 is not None else self._dummy[algo]
        if qop is not None:
            data = f"{key}:{nonce}:{p['nc']}:{p['cnonce']}:{qop}:{ha2}"
        else:
            data = f"{key}:{nonce}:{ha2}"
        good = hmac.compare_digest(
            h(data.encode()).encode(), p["response"].lower().encode("utf-8", "replace")
        )
        if cred is None:
            return AuthResult.UNKNOWN_USER, username
        if secret_ha1 is None:
            return AuthResult.UNSUPPORTED, username  # e.g. SHA-256 for an account with only an MD5 HA1
        if not good:
            return AuthResult.WRONG_PASSWORD, username
        age = now - issued
        if age < 0 or age > self.nonce_ttl:
            return AuthResult.STALE, username
        if qop is not None and not self._note_nc(nonce, nc, issued, now):
            return AuthResult.REPLAY, username
        return AuthResult.OK, username

    def _note_nc(self, nonce: str, nc: int, issued: float, now: float) -> bool:
        """Record nc for a nonce; False if it does not exceed the highest seen (a replay)."""
        seen = self._nc.get(nonce)
        if seen is not None and nc <= seen[0]:
            return False
        self._nc[nonce] = (nc, issued)
        if seen is None:
            self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        # Entries are roughly in issue order (first use follows issue closely), so pruning from
        # the front is amortised O(1); the cap bounds memory whatever clients do.
        limit = now - self.nonce_ttl
        while self._nc:
            nonce, (_, issued) = next(iter(self._nc.items()))
            if issued >= limit and len(self._nc) <= _NC_CAP:
                break
            del self._nc[nonce]

    @property
    def tracked_nonces(self) -> int:
        return len(self._nc)
