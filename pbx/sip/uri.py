"""SIP and other URIs (RFC 3261 section 19.1, RFC 5118 for IPv6 references).

A `Uri` keeps what it was parsed from so that rendering returns the original text: a registrar must
give back a Contact with its parameters and escaped headers intact (RFC 4475 cparam01, regescrt).
Only sip/sips are taken apart; other schemes (tel, isbn, http, ...) are kept opaque.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import unquote

from pbx.sip.errors import SipParseError

_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
_FORBIDDEN_IN_URI = frozenset(' \t\r\n<>"')


def normalize_host(host: str) -> str:
    """Lower-case host; IPv6 references lose brackets and get their canonical form."""
    if host.startswith("["):
        return str(ipaddress.IPv6Address(host[1:-1]))
    return host.lower()


@dataclass(frozen=True, slots=True)
class Uri:
    scheme: str
    user: str | None
    password: str | None
    host: str  # as written, IPv6 with brackets; empty for non-SIP schemes
    port: int | None
    params: tuple[tuple[str, str | None], ...]
    headers: str  # raw text after '?', or ""
    text: str = field(compare=False)  # the original text; rendering returns it
    opaque: str = ""  # the part after "scheme:" for non-SIP schemes

    @property
    def is_sip(self) -> bool:
        return self.scheme in ("sip", "sips")

    def param(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.params:
            if k.lower() == lname:
                return v if v is not None else ""
        return None

    def has_param(self, name: str) -> bool:
        return self.param(name) is not None

    @property
    def host_key(self) -> str:
        return normalize_host(self.host) if self.host else ""

    @property
    def bare_host(self) -> str:
        """Host without IPv6 brackets, as socket calls want it."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    @property
    def transport(self) -> str:
        t = self.param("transport")
        return (t or "udp").lower()

    @property
    def user_unescaped(self) -> str | None:
        return unquote(self.user) if self.user is not None else None

    def aor(self) -> str:
        """Address-of-record key: scheme:user@host, no port or params, host lower-cased."""
        user = self.user_unescaped or ""
        return f"{self.scheme}:{user}@{self.host_key}" if user else f"{self.scheme}:{self.host_key}"

    def __str__(self) -> str:
        return self.text


def build_sip_uri(
    user: str | None,
    host: str,
    port: int | None = None,
    params: tuple[tuple[str, str | None], ...] = (),
    scheme: str = "sip",
) -> Uri:
    h = f"[{host}]" if ":" in host and not host.startswith("[") else host
    text = f"{scheme}:"
    if user:
        text += f"{user}@"
    text += h
    if port is not None:
        text += f":{port}"
    for k, v in params:
        text += f";{k}" if v is None else f";{k}={v}"
    return Uri(scheme, user, None, h, port, params, "", text)


_CACHE_MAX = 4096
_CACHE_TEXT_MAX = 256
_cache: dict[str, Uri] = {}


def parse_uri(text: str) -> Uri:
    # Uri is immutable and a function of the text alone, and the same URIs come back with every
    # refresh of a phone (Request-URI, To, Contact): a bounded memo saves most of the parsing.
    u = _cache.get(text)
    if u is None:
        u = _parse_uri(text)
        if len(text) > _CACHE_TEXT_MAX:
            return u  # bounds the memo's memory whatever a peer sends
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[text] = u
    return u


def _parse_uri(text: str) -> Uri:
    colon = text.find(":")
    if colon <= 0:
        raise SipParseError(f"URI without scheme: {text!r}")
    scheme = text[:colon]
    if not scheme[0].isalpha() or not _SCHEME_CHARS.issuperset(scheme):
        raise SipParseError(f"bad URI scheme: {text!r}")
    if not _FORBIDDEN_IN_URI.isdisjoint(text):
        raise SipParseError(f"bad character in URI: {text!r}")
    scheme = scheme.lower()
    rest = text[colon + 1 :]
    if scheme not in ("sip", "sips"):
        if not rest:
            raise SipParseError(f"empty URI: {text!r}")
        return Uri(scheme, None, None, "", None, (), "", text, rest)
    return _parse_sip(scheme, rest, text)


def _parse_sip(scheme: str, rest: str, text: str) -> Uri:
    # userinfo may contain '?', ';' and ':' (RFC 4475 intmeth, semiuri), so the last '@' splits it.
    at = rest.rfind("@")
    user: str | None = None
    password: str | None = None
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        if not userinfo:
            raise SipParseError(f"empty user part: {text!r}")
        # the password is after the first ':' in userinfo; a user may not contain a bare ':'
        # but telephone-subscribers in the wild do, so we keep it all when in doubt.
        user = userinfo
        if ":" in userinfo and ";" not in userinfo and "?" not in userinfo:
            user, password = userinfo.split(":", 1)
    headers = ""
    q = rest.find("?")
    if q >= 0:
        rest, headers = rest[:q], rest[q + 1 :]
    hostport, _, ptext = rest.partition(";")
    host, port = _parse_hostport(hostport, text)
    params: list[tuple[str, str | None]] = []
    if ptext or rest.endswith(";"):
        for p in ptext.split(";"):
            name, eq, value = p.partition("=")
            if not name:
                raise SipParseError(f"empty URI parameter: {text!r}")
            params.append((name, value if eq else None))
    return Uri(scheme, user, password, host, port, tuple(params), headers, text)


def _parse_hostport(hostport: str, text: str) -> tuple[str, int | None]:
    port: int | None = None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference: {text!r}")
        host, tail = hostport[: end + 1], hostport[end + 1 :]
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError as e:
            raise SipParseError(f"bad IPv6 reference: {text!r}") from e
        if tail:
            if not tail.startswith(":"):
                raise SipParseError(f"bad host: {text!r}")
            port = _parse_port(tail[1:], text)
        return host, port
    host, colon, ptext = hostport.partition(":")
    if colon:
        if ":" in ptext:
            raise SipParseError(f"IPv6 address without brackets: {text!r}")  # RFC 5118 ipv6-bad
        port = _parse_port(ptext, text)
    if not host or not _HOST_CHARS.issuperset(host):
        raise SipParseError(f"bad host: {text!r}")
    return host, port


def _parse_port(ptext: str, text: str) -> int:
    if not ptext.isdigit() or len(ptext) > 5 or int(ptext) > 65535:
        raise SipParseError(f"bad port: {text!r}")
    return int(ptext)
