"""Bytes -> Request | Response (RFC 3261 sections 7 and 25, with the RFC 4475 torture cases).

How it works: split the head from the body at the first empty line, unfold continuation lines,
read the start line strictly (single spaces; a Request-URI with spaces or in <> is rejected),
then read each header, expanding compact names and splitting list-valued headers at commas
outside quotes and <>. The checks a server must make before it can answer at all (one of each
of Call-ID/CSeq/From/To, a Via, Content-Length sane, CSeq method matching) are done here, and each
failure raises `SipParseError` with the status to answer (400, 505, 413, 513).

`parse_request_head_for_reply` recovers enough of a broken request to send the 400 back.
"""

from __future__ import annotations

import re

from pbx.sip.errors import SipParseError
from pbx.sip.headers import TOKEN_CHARS, is_token, parse_cseq, parse_name_addr, parse_uint, parse_via
from pbx.sip.message import COMPACT, Headers, Message, Request, Response
from pbx.sip.uri import parse_uri

DEFAULT_MAX_MESSAGE = 65535
DEFAULT_MAX_HEADERS = 100

# Headers whose values are comma-separated lists (RFC 3261 section 7.3.1). Not WWW-Authenticate
# and friends, whose parameters contain commas, nor Date.
LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "path",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "content-encoding",
        "allow-events",
        "service-route",
    }
)
SINGLE_HEADERS = frozenset(
    {"call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type", "expires"}
)
_DATE = re.compile(r"^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$")


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    i = data.find(b"\r\n\r\n")
    j = data.find(b"\n\n")
    if i >= 0 and (j < 0 or i < j):
        return data[:i], data[i + 4 :]
    if j >= 0:
        return data[:j], data[j + 2 :]
    return data, b""


def split_list(value: str) -> list[str]:
    """Split at commas outside quoted strings and <...>."""
    if "," not in value:
        return [value.strip()]
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return out


def _lines(head: bytes) -> list[str]:
    text = head.decode("utf-8", "surrogateescape")
    if "\n " not in text and "\n\t" not in text:
        # No folded lines (nearly every message): split in C. A "\r" only ever ends a line.
        if "\r" in text:
            text = text.replace("\r\n", "\n")
            if text.endswith("\r"):
                text = text[:-1]
        return text.split("\n")
    return _unfold(text)


def _unfold(text: str) -> list[str]:
    """Lines of a head, continuation lines joined to the line they continue."""
    raw = text.split("\n")
    lines: list[str] = []
    for line in raw:
        if line.endswith("\r"):
            line = line[:-1]
        if line[:1] in (" ", "\t") and lines:
            lines[-1] = lines[-1] + " " + line.strip(" \t")
        else:
            lines.append(line)
    return lines


_NAMES: dict[str, str] = {}  # header name as written -> canonical name; names are few


def _header_name(raw: str) -> str:
    name = raw.rstrip(" \t").lower()
    if not is_token(name):
        raise SipParseError(f"bad header name {name[:40]!r}")
    name = COMPACT.get(name, name)
    if len(_NAMES) < 1024 and len(raw) <= 64:
        _NAMES[raw] = name
    return name


def parse(
    data: bytes,
    *,
    stream: bool = False,
    max_size: int = DEFAULT_MAX_MESSAGE,
    max_headers: int = DEFAULT_MAX_HEADERS,
) -> Request | Response:
    """Parse one message. With `stream=False` (a datagram) a missing Content-Length means the rest
    of the datagram; extra octets after Content-Length are ignored (RFC 4475 dblreq)."""
    if len(data) > max_size:
        raise SipParseError("message too large", 513)
    data = data.lstrip(b"\r\n")  # keep-alive CRLFs before a message are allowed (RFC 3261 7.5)
    head, body = _split_head(data)
    lines = _lines(head)
    if not lines or not lines[0]:
        raise SipParseError("empty message")
    start = lines[0]
    headers = Headers()
    if len(lines) - 1 > max_headers:
        raise SipParseError("too many headers")
    # Filled directly, index included: every message is looked up by name right away.
    items: list[tuple[str, str]] = []
    first: dict[str, str] = {}
    dup = False
    twice: str | None = None  # a single-valued header seen twice
    names = _NAMES
    for line in lines[1:]:
        raw, colon, value = line.partition(":")
        if not raw or not colon:
            raise SipParseError(f"header line without a name: {line[:40]!r}")
        name = names.get(raw)
        if name is None:
            name = _header_name(raw)
        value = value.strip(" \t")
        if name in LIST_HEADERS:
            if "," in value:
                for v in split_list(value):
                    items.append((name, v))
                    if name in first:
                        dup = True
                    else:
                        first[name] = v
                continue
            value = value.strip()
        items.append((name, value))
        if name in first:
            dup = True
            if twice is None and name in SINGLE_HEADERS:
                twice = name
        else:
            first[name] = value
    headers._items = tuple(items)
    headers._first = first
    headers._dup = dup

    msg: Message
    if start.startswith("SIP/"):
        msg = _response(start, headers)
    else:
        msg = _request(start, headers)
    msg.body = _body(headers, body, stream)
    _validate(msg, twice)
    return msg


def _response(start: str, headers: Headers) -> Response:
    parts = start.split(" ", 2)
    if len(parts) < 2 or parts[0] != "SIP/2.0":
        raise SipParseError("bad status line")
    code = parts[1]
    if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
        raise SipParseError("bad status code")  # RFC 4475 bigcode
    return Response(int(code), parts[2] if len(parts) == 3 else "", headers)


def _request(start: str, headers: Headers) -> Request:
    parts = start.split(" ")
    if len(parts) != 3 or not parts[1]:
        raise SipParseError("bad request line")  # RFC 4475 lwsruri, lwsstart
    method, uri, version = parts
    if not method or not TOKEN_CHARS.issuperset(method):
        raise SipParseError("bad method")
    if version.upper() != "SIP/2.0":
        if version.upper().startswith("SIP/"):
            raise SipParseError("SIP version not supported", 505)
        raise SipParseError("bad request line")
    if uri.startswith("<"):
        raise SipParseError("Request-URI in <>")  # RFC 4475 ltgtruri
    ruri = parse_uri(uri)
    if ruri.is_sip and ruri.headers:
        raise SipParseError("Request-URI with headers")  # RFC 4475 escruri
    req = Request(method, uri, headers)
    req._uri = ruri
    return req


def _body(headers: Headers, body: bytes, stream: bool) -> bytes:
    cls = headers.get_all("content-length")
    if len(cls) > 1:
        raise SipParseError("more than one Content-Length")  # RFC 4475 mcl01
    if not cls:
        if stream:
            raise SipParseError("Content-Length required over a stream")
        return body
    v = cls[0]
    if not v.isdigit() or len(v) > 10:
        raise SipParseError("bad Content-Length")  # RFC 4475 ncl
    n = int(v)
    if n > len(body):
        raise SipParseError("Content-Length larger than the message")  # RFC 4475 clerr
    return body[:n]


def _validate(msg: Message, twice: str | None) -> None:
    h = msg.headers
    if twice is not None:
        raise SipParseError(f"more than one {twice} header")  # RFC 4475 multi01
    for name in ("call-id", "cseq", "from", "to"):
        if not h.get(name):
            raise SipParseError(f"missing {name} header")  # RFC 4475 insuf
    if "via" not in h:
        raise SipParseError("missing Via header")
    cseq = parse_cseq(h.get("cseq") or "")
    msg._cseq = cseq
    for v in msg.vias:
        if v.version != "2.0":
            raise SipParseError("SIP version not supported", 505)
    # Parsed here anyway, so kept: the message's typed views would parse them again.
    msg._from = parse_name_addr(h.get("from") or "")
    msg._to = parse_name_addr(h.get("to") or "")
    contacts = h.get_all("contact")
    if contacts:
        msg._contacts = [parse_name_addr(c) for c in contacts if c != "*"]
    if isinstance(msg, Request):
        if cseq.method != msg.method:
            raise SipParseError("CSeq method does not match")  # RFC 4475 mismatch01/02
        mf = h.get("max-forwards")
        if mf is not None:
            parse_uint(mf, "Max-Forwards")
    exp = h.get("expires")
    if exp is not None:
        parse_uint(exp, "Expires")
    date = h.get("date")
    if date is not None and not _DATE.match(date):
        raise SipParseError("bad Date")  # RFC 4475 baddate
    _ = parse_via  # parsed through msg.vias


def parse_request_head_for_reply(data: bytes) -> Request | None:
    """Best effort on a request that failed to parse: keep the headers a response needs (Via,
    From, To, Call-ID, CSeq) so a 400 can go back. None if it is not recognisably a request or
    has no usable Via."""
    try:
        head, _ = _split_head(data.lstrip(b"\r\n"))
        lines = _lines(head)
    except Exception:
        return None
    if not lines or lines[0].startswith("SIP/"):
        return None
    method = lines[0].split(" ", 1)[0]
    if not method or not all(c in TOKEN_CHARS for c in method):
        return None
    headers = Headers()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = COMPACT.get(name.strip().lower(), name.strip().lower())
        if key in ("via", "from", "to", "call-id", "cseq"):
            if key == "via":
                for v in split_list(value.strip()):
                    headers.add("via", v)
            else:
                headers.add(key, value.strip())
    req = Request(method, "sip:invalid", headers)
    try:
        if not req.vias:
            return None
    except SipParseError:
        return None
    return req
