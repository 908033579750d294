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
}


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
    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = list(items)

    def get(self, name: str) -> str | None:
        for k, v in self._items:
            if k == name:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self._items if k == name]

    def count(self, name: str) -> int:
        return sum(1 for k, _ in self._items if k == name)

    def __contains__(self, name: object) -> bool:
        return any(k == name for k, _ in self._items)

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def prepend(self, name: str, value: str) -> None:
        self._items.insert(0, (name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every value of `name` with one value, at the first one's place."""
        for i, (k, _) in enumerate(self._items):
            if k == name:
                self._items[i] = (name, value)
                self._items[i + 1 :] = [kv for kv in self._items[i + 1 :] if kv[0] != name]
                return
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        self._items = [kv for kv in self._items if kv[0] != name]

    def remove_first(self, name: str) -> None:
        for i, (k, _) in enumerate(self._items):
            if k == name:
                del self._items[i]
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
    __slots__ = ("_cache", "body", "headers", "version")

    def __init__(self, headers: Headers, body: bytes = b"", version: str = "SIP/2.0") -> None:
        self.headers = headers
        self.body = body
        self.version = version
        self._cache: dict[str, object] = {}

    # --- typed views, parsed once ---
    @property
    def call_id(self) -> str:
        return self.headers.get("call-id") or ""

    @property
    def cseq(self) -> CSeq:
        c = self._cache.get("cseq")
        if c is None:
            c = self._cache["cseq"] = parse_cseq(self.headers.get("cseq") or "")
        assert isinstance(c, CSeq)
        return c

    @property
    def vias(self) -> list[Via]:
        v = self._cache.get("vias")
        if v is None:
            v = self._cache["vias"] = [parse_via(x) for x in self.headers.get_all("via")]
        assert isinstance(v, list)
        return v

    @property
    def top_via(self) -> Via:
        return self.vias[0]

    @property
    def from_(self) -> NameAddr:
        return self._name_addr("from")

    @property
    def to(self) -> NameAddr:
        return self._name_addr("to")

    def _name_addr(self, name: str) -> NameAddr:
        v = self._cache.get(name)
        if v is None:
            v = self._cache[name] = parse_name_addr(self.headers.get(name) or "")
        assert isinstance(v, NameAddr)
        return v

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; `*` is not a name-addr, see `contact_star`."""
        v = self._cache.get("contacts")
        if v is None:
            v = self._cache["contacts"] = [
                parse_name_addr(x) for x in self.headers.get_all("contact") if x.strip() != "*"
            ]
        assert isinstance(v, list)
        return v

    @property
    def contact_star(self) -> bool:
        return any(x.strip() == "*" for x in self.headers.get_all("contact"))

    def invalidate(self) -> None:
        self._cache.clear()

    def first_line(self) -> str:
        raise NotImplementedError

    def render(self) -> bytes:
        parts = [self.first_line()]
        for k, v in self.headers:
            if k != "content-length":
                parts.append(f"{pretty_name(k)}: {v}")
        parts.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(parts) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


class Request(Message):
    __slots__ = ("method", "uri_text")

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

    @property
    def uri(self) -> Uri:
        u = self._cache.get("uri")
        if u is None:
            u = self._cache["uri"] = parse_uri(self.uri_text)
        assert isinstance(u, Uri)
        return u

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
    h = Headers()
    for k, v in req.headers:
        if k in ("via", "from", "call-id", "cseq") or (k == "record-route" and 100 < status < 300):
            h.add(k, v)
        elif k == "to":
            if to_tag is not None and status != 100 and "tag=" not in v.lower():
                v = f"{v};tag={to_tag}"
            h.add(k, v)
    for k, v in extra:
        h.add(k, v)
    return Response(status, reason or REASONS.get(status, "Unknown"), h, body)
