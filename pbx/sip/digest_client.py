"""The client side of SIP digest (RFC 3261 22.2, RFC 2617, RFC 8760): answering a carrier's 401/407.

The PBX is a client towards trunks: it registers with them and authenticates its INVITEs. Given
the challenge header of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate), `answer` returns
the value of the matching Authorization / Proxy-Authorization header. MD5 and SHA-256 are
supported, with qop=auth or without qop (RFC 2069 style); auth-int is not offered by carriers
in practice and is refused (None), as are unknown algorithms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pbx.sip.errors import SipParseError
from pbx.sip.headers import parse_auth_params

_HASHES = {"md5": hashlib.md5, "sha-256": hashlib.sha256}


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str  # "MD5" or "SHA-256", as the server wrote it
    qop: str | None  # "auth" when offered
    opaque: str | None


def parse_challenge(value: str) -> Challenge | None:
    """A Digest challenge we can answer, or None."""
    try:
        scheme, params = parse_auth_params(value)
    except SipParseError:
        return None
    if scheme != "digest" or "nonce" not in params:
        return None
    algorithm = params.get("algorithm", "MD5")
    if algorithm.lower() not in _HASHES:
        return None
    offered = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    if offered and "auth" not in offered:
        return None
    return Challenge(params.get("realm", ""), params["nonce"], algorithm, "auth" if offered else None,
                     params.get("opaque"))  # fmt: skip


def best_challenge(values: list[str]) -> Challenge | None:
    """SHA-256 first when offered (RFC 8760 3: prefer the strongest), else MD5."""
    parsed = [c for c in (parse_challenge(v) for v in values) if c is not None]
    parsed.sort(key=lambda c: c.algorithm.lower() != "sha-256")
    return parsed[0] if parsed else None


def answer(
    ch: Challenge, method: str, uri: str, username: str, password: str, cnonce: str, nc: int = 1
) -> str:
    h = _HASHES[ch.algorithm.lower()]

    def hx(text: str) -> str:
        return h(text.encode()).hexdigest()

    ha1 = hx(f"{username}:{ch.realm}:{password}")
    ha2 = hx(f"{method}:{uri}")
    count = f"{nc:08x}"
    if ch.qop is not None:
        response = hx(f"{ha1}:{ch.nonce}:{count}:{cnonce}:{ch.qop}:{ha2}")
    else:
        response = hx(f"{ha1}:{ch.nonce}:{ha2}")
    parts = [
        f'username="{username}"',
        f'realm="{ch.realm}"',
        f'nonce="{ch.nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={ch.algorithm}",
    ]
    if ch.qop is not None:
        parts += [f"qop={ch.qop}", f"nc={count}", f'cnonce="{cnonce}"']
    if ch.opaque is not None:
        parts.append(f'opaque="{ch.opaque}"')
    return "Digest " + ", ".join(parts)
