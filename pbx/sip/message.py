"""SIP requests and responses (RFC 3261 section 7) and their rendering to bytes.

Headers are an ordered multi-map of (canonical lower-case long name, value text). Compact forms
are expanded and comma-separated list headers are split into one entry per value by the parser,
so `get_all("via")` is the Via list whatever way it was written. Typed views (Via, CSeq, From,
To, Contact) are parsed on first use and cached: most messages never need most of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pbx.sip.headers import CSeq, NameAddr, Via, parse_cseq, parse_name_addr, parse_via
from pbx.sip.uri import Uri, parse_uri

COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "u": "allow-events",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
    "n": "identity-info",
}

_PRETTY = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "p-asserted-identity": "P-Asserted-Identity",
    # the PBX's own headers, written as the docs and consoles spell them
    "x-pbx-queue": "X-PBX-Queue",
    "x-pbx-queue-name": "X-PBX-Queue-Name",
    "x-pbx-did": "X-PBX-DID",
    "x-pbx-number-entry": "X-PBX-Number-Entry",
}


_PREFIXES: dict[str, str] = {}  # "via" -> "Via: ", filled as names are rendered


def pretty_name(name: str) -> str:
    p = _PRETTY.get(name)
    if p is None:
        p = "-".join(w[:1].upper() + w[1:] for w in name.split("-"))
        _PRETTY[name] = p
    return p


REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
    603: "Decline",
}


class Headers:
    """Ordered (name, value) pairs, with a by-name index built on the first lookup.

    A parsed message is looked up by name a dozen times (Via, CSeq, Call-ID, Contact, ...), so the
    index pays for itself at once; a message we build and only render never builds it. The index
    holds only strings (the first value of each name) and a flag for repeated names, and the
    pairs are a tuple, rebuilt on change (messages are built once and rarely edited): the garbage
    collector stops tracking both. A server transaction keeps its request and response for 32 s,
    and tens of thousands of live messages must not mean hundreds of thousands of tracked objects.
    """

    __slots__ = ("_dup", "_first", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(items)
        self._first: dict[str, str] | None = None
        self._dup = False  # some name occurs more than once: get_all/count scan the list

    def _build(self) -> dict[str, str]:
        self._dup = False
        first: dict[str, str] = {}
        for k, v in self._items:
            if k in first:
                self._dup = True
            else:
                first[k] = v
        self._first = first
        return first

    def get(self, name: str) -> str | None:
        first = self._first
        if first is None:
            first = self._build()
        return first.get(name)

    def get_all(self, name: str) -> list[str]:
        first = self._first
        if first is None:
            first = self._build()
        if name not in first:
            return []
        if not self._dup:
            return [first[name]]
        return [v for k, v in self._items if k == name]

    def count(self, name: str) -> int:
        first = self._first
        if first is None:
            first = self._build()
        if name not in first:
            return 0
        if not self._dup:
            return 1
        return sum(1 for k, _ in self._items if k == name)

    def has_repeats(self) -> bool:
        """Whether some name occurs more than once."""
        if self._first is None:
            self._build()
        return self._dup

    def __contains__(self, name: object) -> bool:
        first = self._first
        if first is None:
            first = self._build()
        return name in first

    def add(self, name: str, value: str) -> None:
        self._items += ((name, value),)
        first = self._first
        if first is not None:
            if name in first:
                self._dup = True
            else:
                first[name] = value

    def prepend(self, name: str, value: str) -> None:
        self._items = ((name, value), *self._items)
        self._first = None

    def set(self, name: str, value: str) -> None:
        """Replace every value of `name` with one value, at the first one's place."""
        self._first = None
        items = self._items
        for i, (k, _) in enumerate(items):
            if k == name:
                rest = tuple(kv for kv in items[i + 1 :] if kv[0] != name)
                self._items = (*items[:i], (name, value), *rest)
                return
        self._items = (*items, (name, value))

    def remove(self, name: str) -> None:
        self._items = tuple(kv for kv in self._items if kv[0] != name)
        self._first = None

    def remove_first(self, name: str) -> None:
        for i, (k, _) in enumerate(self._items):
            if k == name:
                self._items = self._items[:i] + self._items[i + 1 :]
                self._first = None
                return

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def copy(self) -> Headers:
        return Headers(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Message:
    # Typed views live in slots, not in a dict: no per-message dict, and None means "not yet".
    __slots__ = ("_contacts", "_cseq", "_from", "_to", "_vias", "body", "headers", "version")

    def __init__(self, headers: Headers, body: bytes = b"", version: str = "SIP/2.0") -> None:
        self.headers = headers
        self.body = body
        self.version = version
        self._cseq: CSeq | None = None
        self._vias: list[Via] | None = None
        self._from: NameAddr | None = None
        self._to: NameAddr | None = None
        self._contacts: list[NameAddr] | None = None

    # --- typed views, parsed once ---
    @property
    def call_id(self) -> str:
        return self.headers.get("call-id") or ""

    @property
    def cseq(self) -> CSeq:
        c = self._cseq
        if c is None:
            c = self._cseq = parse_cseq(self.headers.get("cseq") or "")
        return c

    @property
    def vias(self) -> list[Via]:
        v = self._vias
        if v is None:
            v = self._vias = [parse_via(x) for x in self.headers.get_all("via")]
        return v

    @property
    def top_via(self) -> Via:
        return self.vias[0]

    @property
    def from_(self) -> NameAddr:
        v = self._from
        if v is None:
            v = self._from = parse_name_addr(self.headers.get("from") or "")
        return v

    @property
    def to(self) -> NameAddr:
        v = self._to
        if v is None:
            v = self._to = parse_name_addr(self.headers.get("to") or "")
        return v

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; `*` is not a name-addr, see `contact_star`."""
        v = self._contacts
        if v is None:
            v = self._contacts = [
                parse_name_addr(x) for x in self.headers.get_all("contact") if x.strip() != "*"
            ]
        return v

    @property
    def contact_star(self) -> bool:
        return any(x.strip() == "*" for x in self.headers.get_all("contact"))

    def invalidate(self) -> None:
        """Drop every parsed view and the header index; they are rebuilt when next asked for."""
        self._cseq = self._vias = self._from = self._to = self._contacts = None
        self.headers._first = None

    def first_line(self) -> str:
        raise NotImplementedError

    def render(self) -> bytes:
        parts = [self.first_line()]
        prefixes = _PREFIXES
        for k, v in self.headers._items:
            if k != "content-length":
                prefix = prefixes.get(k)
                if prefix is None:
                    prefix = prefixes[k] = pretty_name(k) + ": "
                parts.append(prefix + v)
        parts.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        return "\r\n".join(parts).encode("utf-8", "surrogateescape") + self.body


class Request(Message):
    __slots__ = ("_uri", "method", "uri_text")

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        super().__init__(headers, body, version)
        self.method = method
        self.uri_text = uri
        self._uri: Uri | None = None

    @property
    def uri(self) -> Uri:
        u = self._uri
        if u is None:
            u = self._uri = parse_uri(self.uri_text)
        return u

    def invalidate(self) -> None:
        super().invalidate()
        self._uri = None

    def first_line(self) -> str:
        return f"{self.method} {self.uri_text} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri_text} call-id={self.call_id}>"


class Response(Message):
    __slots__ = ("reason", "status")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Headers,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        super().__init__(headers, body, version)
        self.status = status
        self.reason = reason

    def first_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} call-id={self.call_id}>"


def make_response(
    req: Request,
    status: int,
    reason: str | None = None,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """Build a response to `req` per RFC 3261 section 8.2.6.2: copy Via, From, To, Call-ID, CSeq."""
    items: list[tuple[str, str]] = []
    rr = 100 < status < 300
    for k, v in req.headers._items:
        if k in _COPIED or (rr and k == "record-route"):
            items.append((k, v))
        elif k == "to":
            if to_tag is not None and status != 100 and "tag=" not in v.lower():
                v = f"{v};tag={to_tag}"
            items.append((k, v))
    items.extend(extra)
    return Response(status, reason or REASONS.get(status, "Unknown"), Headers(items), body)


_COPIED = frozenset({"via", "from", "call-id", "cseq"})
