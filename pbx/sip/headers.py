"""Typed header values (RFC 3261 section 20, grammar of section 25): Via, name-addr, CSeq.

The parser keeps header values as text; these are parsed on demand (lazily), because most
messages only need the Via, Call-ID and CSeq of a transaction. Each type renders back to text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pbx.sip.errors import SipParseError
from pbx.sip.uri import Uri, parse_uri

TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_WS = " \t"
MAGIC_COOKIE = "z9hG4bK"

Params = tuple[tuple[str, str | None], ...]


def is_token(s: str) -> bool:
    return bool(s) and TOKEN_CHARS.issuperset(s)


def param_value(params: Params, name: str) -> str | None:
    lname = name.lower()
    for k, v in params:
        if k == lname or k.lower() == lname:  # names are nearly always written in lower case
            return v if v is not None else ""
    return None


def render_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def _read_quoted(s: str, i: int) -> int:
    """s[i] is '"'; return the index just past the closing quote."""
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise SipParseError("unbalanced quotes")


_TOKEN_RE = r"[A-Za-z0-9\-.!%*_+`'~]"
# One `;name[=value]` in the shapes phones send; anything else takes the careful loop below,
# which gives the same result or the precise error.
_PARAM = re.compile(
    rf"[ \t]*;[ \t]*({_TOKEN_RE}+)[ \t]*(?:=[ \t]*(\"(?:[^\"\\]|\\.)*\"|\[[^\]]*\]|(?:{_TOKEN_RE}|:)+))?",
    re.S,
)


def parse_params(s: str, where: str) -> Params:
    """Parse `;name[=value]...` with LWS allowed around ';' and '=' (RFC 4475 wsinv)."""
    if not s:
        return ()
    fast: list[tuple[str, str | None]] = []
    pos, n = 0, len(s)
    match = _PARAM.match
    while pos < n:
        m = match(s, pos)
        if m is None:
            break
        fast.append((m.group(1), m.group(2)))
        pos = m.end()
    else:
        return tuple(fast)
    if not s[pos:].strip(_WS):
        return tuple(fast)
    return _parse_params_slow(s, where)


def _parse_params_slow(s: str, where: str) -> Params:
    out: list[tuple[str, str | None]] = []
    i, n = 0, len(s)
    while i < n:
        while i < n and s[i] in _WS:
            i += 1
        if i >= n:
            break
        if s[i] != ";":
            raise SipParseError(f"bad parameters in {where}")
        i += 1
        while i < n and s[i] in _WS:
            i += 1
        j = i
        while i < n and s[i] in TOKEN_CHARS:
            i += 1
        name = s[j:i]
        if not name:
            raise SipParseError(f"empty parameter in {where}")
        while i < n and s[i] in _WS:
            i += 1
        value: str | None = None
        if i < n and s[i] == "=":
            i += 1
            while i < n and s[i] in _WS:
                i += 1
            j = i
            if i < n and s[i] == '"':
                i = _read_quoted(s, i)
            elif i < n and s[i] == "[":
                k = s.find("]", i)
                if k < 0:
                    raise SipParseError(f"bad IPv6 parameter in {where}")
                i = k + 1
            else:
                while (i < n and s[i] in TOKEN_CHARS) or (i < n and s[i] == ":"):
                    i += 1
            value = s[j:i]
            if not value:
                raise SipParseError(f"empty parameter value in {where}")
        out.append((name, value))
    return tuple(out)


# --- Via -------------------------------------------------------------------------------------

_VIA_PROTO = re.compile(r"SIP[ \t]*/[ \t]*([^ \t/]+)[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+", re.I)


@dataclass(frozen=True, slots=True)
class Via:
    version: str
    transport: str  # upper case: UDP, TCP, TLS, SCTP, ...
    host: str  # IPv6 with brackets
    port: int | None
    params: Params
    # Derived once: transaction matching reads them several times per message.
    branch: str | None = field(init=False, compare=False, repr=False)
    sent_by: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "branch", param_value(self.params, "branch"))
        object.__setattr__(self, "sent_by", f"{self.host.lower()}:{self.port or 5060}")

    @property
    def received(self) -> str | None:
        return param_value(self.params, "received")

    @property
    def rport(self) -> str | None:
        return param_value(self.params, "rport")

    def with_params(self, params: Params) -> Via:
        return replace(self, params=params)

    def __str__(self) -> str:
        hp = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"SIP/{self.version}/{self.transport} {hp}{render_params(self.params)}"


_VIA_HOST_END = re.compile(r"[^ \t;:]*")
_VIA_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")


# `SIP/2.0/UDP host[:port][;params]` as phones write it; anything else takes the careful path,
# which gives the same Via or the precise error.
_VIA_FAST = re.compile(r"SIP/2\.0/([A-Za-z]+) ([A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?(;.*)?", re.S)


def parse_via(value: str) -> Via:
    value = value.strip()
    m = _VIA_FAST.fullmatch(value)
    if m is not None:
        port_text = m.group(3)
        port = int(port_text) if port_text is not None else None
        if port is None or port <= 65535:
            return Via("2.0", m.group(1).upper(), m.group(2), port, parse_params(m.group(4) or "", "Via"))
    return _parse_via_slow(value)


def _parse_via_slow(value: str) -> Via:
    value = value.strip()
    m = _VIA_PROTO.match(value)
    if not m:
        raise SipParseError("bad Via")
    rest = value[m.end() :]
    i = 0
    n = len(rest)
    if rest.startswith("["):
        i = rest.find("]")
        if i < 0:
            raise SipParseError("bad Via host")
        i += 1
    hm = _VIA_HOST_END.match(rest, i)
    if hm is not None:  # always: the pattern matches the empty string
        i = hm.end()
    host = rest[:i]
    while i < n and rest[i] in _WS:
        i += 1
    port: int | None = None
    if i < n and rest[i] == ":":
        i += 1
        while i < n and rest[i] in _WS:
            i += 1
        j = i
        while i < n and rest[i].isdigit():
            i += 1
        if j == i or i - j > 5 or int(rest[j:i]) > 65535:
            raise SipParseError("bad Via port")
        port = int(rest[j:i])
    if not host:
        raise SipParseError("bad Via host")
    if host.startswith("["):
        parse_uri(f"sip:{host}")  # validates the IPv6 reference
    elif not _VIA_HOST_CHARS.issuperset(host) and not all(c.isalnum() or c in "-." for c in host):
        raise SipParseError("bad Via host")
    return Via(m.group(1), m.group(2).upper(), host, port, parse_params(rest[i:], "Via"))


# --- name-addr / addr-spec (To, From, Contact, Route, Record-Route, Refer-To) -----------------


@dataclass(frozen=True, slots=True)
class NameAddr:
    display: str | None  # as written, quotes included
    uri: Uri
    params: Params
    bracketed: bool = True

    @property
    def tag(self) -> str | None:
        return param_value(self.params, "tag")

    def param(self, name: str) -> str | None:
        return param_value(self.params, name)

    def with_params(self, params: Params) -> NameAddr:
        return replace(self, params=params)

    def __str__(self) -> str:
        disp = f"{self.display} " if self.display else ""
        return f"{disp}<{self.uri.text}>{render_params(self.params)}"


_NA_CACHE_MAX = 4096
_NA_TEXT_MAX = 256
_na_cache: dict[str, NameAddr] = {}


def parse_name_addr(value: str) -> NameAddr:
    # NameAddr is immutable and a function of the text: a phone's To and Contact values repeat
    # with every refresh, so a bounded memo (short values only) skips most of the work.
    na = _na_cache.get(value)
    if na is None:
        na = _parse_name_addr(value)
        if len(value) <= _NA_TEXT_MAX:
            if len(_na_cache) >= _NA_CACHE_MAX:
                _na_cache.clear()
            _na_cache[value] = na
    return na


def _parse_name_addr(value: str) -> NameAddr:
    s = value.strip(_WS)
    i = 0
    n = len(s)
    display: str | None = None
    if s.startswith('"'):
        i = _read_quoted(s, 0)
        display = s[:i]
        while i < n and s[i] in _WS:
            i += 1
        if i >= n or s[i] != "<":
            raise SipParseError("quoted display name without <URI>")
    elif "<" in s:
        lt = s.index("<")
        words = s[:lt].split()
        if not all(is_token(w) for w in words):
            raise SipParseError("display name must be tokens or a quoted string")  # RFC 4475 baddn
        display = " ".join(words) or None
        i = lt
    if i < n and s[i] == "<":
        end = s.find(">", i)
        if end < 0:
            raise SipParseError("unbalanced <>")
        inner = s[i + 1 : end]
        if inner != inner.strip(_WS):
            raise SipParseError("whitespace inside <>")  # RFC 4475 badaspec
        uri = parse_uri(inner)
        return NameAddr(display, uri, parse_params(s[end + 1 :], "name-addr"), True)
    # addr-spec: everything after the first ';' is a header parameter, and '?' and ',' may not
    # appear (RFC 3261 section 20.10; RFC 4475 regbadct).
    if '"' in s or ">" in s:
        raise SipParseError("bad address")
    semi = s.find(";")
    uritext = s if semi < 0 else s[:semi]
    uritext = uritext.rstrip(_WS)
    if "?" in uritext or "," in uritext:
        raise SipParseError("URI with headers or commas must be enclosed in <>")
    uri = parse_uri(uritext)
    params = parse_params(s[semi:], "address") if semi >= 0 else ()
    return NameAddr(None, uri, params, False)


# --- CSeq ------------------------------------------------------------------------------------

MAX_CSEQ = 2**31 - 1


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_CSEQS: dict[str, CSeq] = {}  # "2 REGISTER" -> CSeq: few distinct values across all phones


def parse_cseq(value: str) -> CSeq:
    c = _CSEQS.get(value)
    if c is None:
        c = _parse_cseq(value)
        if len(value) <= 64:
            if len(_CSEQS) >= 4096:
                _CSEQS.clear()
            _CSEQS[value] = c
    return c


def _parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not is_token(parts[1]):
        raise SipParseError("bad CSeq")
    num = int(parts[0])
    if num > MAX_CSEQ:
        raise SipParseError("CSeq number too large")  # RFC 3261 section 8.1.1.5; RFC 4475 scalar02
    return CSeq(num, parts[1])


def parse_uint(value: str, name: str, limit: int = 2**32 - 1) -> int:
    """Non-negative integers (Expires, Max-Forwards): huge values clamp to `limit` (RFC 4475)."""
    v = value.strip()
    if not v.isdigit():
        raise SipParseError(f"bad {name}")
    return min(int(v), limit) if len(v) < 20 else limit


# --- Authorization / WWW-Authenticate ----------------------------------------------------------


# One `name=value` or `name="value"` (no escapes) of a credentials header; anything else takes
# the careful loop, which gives the same result or the error.
_AUTH_PARAM = re.compile(r'[ \t,]*([^= \t,"]+)[ \t]*=[ \t]*(?:"([^"\\]*)"|([^ \t,"]+))')
# Possessive (no backtracking into a name or a bare value): the careful loop reads each greedily,
# so the whole-string check must accept only the tokenisation it would make.
_AUTH_ALL = re.compile(r'(?:[ \t,]*[^= \t,"]++[ \t]*=[ \t]*(?:"[^"\\]*"|[^ \t,"]++))*[ \t,]*')


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """`Digest a=b, c="d"` -> ("digest", {...}); quotes removed, names lower-cased."""
    s = value.strip()
    sp = 0
    n = len(s)
    while sp < n and s[sp] not in _WS:
        sp += 1
    scheme = s[:sp].lower()
    if _AUTH_ALL.fullmatch(s, sp):
        # Checked whole in C, split in C: an unquoted value is never empty, so an empty third
        # group means the quoted form (whose text may be empty).
        return scheme, {name.lower(): bare or quoted for name, quoted, bare in _AUTH_PARAM.findall(s, sp)}
    return scheme, _parse_auth_params_slow(s, sp)


def _parse_auth_params_slow(s: str, i: int) -> dict[str, str]:
    """The parameters of stripped credentials `s` from index `i`, character by character."""
    out: dict[str, str] = {}
    n = len(s)
    while i < n:
        while i < n and s[i] in " \t,":
            i += 1
        if i >= n:
            break
        j = i
        while i < n and s[i] not in "= \t,":
            i += 1
        name = s[j:i].lower()
        while i < n and s[i] in _WS:
            i += 1
        if i >= n or s[i] != "=":
            raise SipParseError("bad credentials")
        i += 1
        while i < n and s[i] in _WS:
            i += 1
        if i < n and s[i] == '"':
            end = _read_quoted(s, i)
            v = s[i + 1 : end - 1].replace('\\"', '"').replace("\\\\", "\\")
            i = end
        else:
            j = i
            while i < n and s[i] not in " \t,":
                i += 1
            v = s[j:i]
        out[name] = v
    return out
