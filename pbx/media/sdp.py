"""SDP (RFC 4566) for legs the PBX answers itself, and the offer/answer rules (RFC 3264) it needs.

The PBX speaks G.711 (PCMU, PCMA) and telephone-event/8000 (RFC 4733) on one audio stream.
`answer(offer, ...)` picks the first codec in the offerer's order that the PBX has, keeps the
offerer's telephone-event payload type, mirrors the direction (sendonly -> recvonly, ...), and
rejects every other stream with port 0 (RFC 3264 6). No common codec: None (the caller gets 488).
Parsing is lenient: lines it does not need are ignored, and a body it cannot read is no offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CODECS = {"PCMU": 0, "PCMA": 8}  # name -> static payload type (RFC 3551)
STATIC_NAMES = {0: "PCMU", 8: "PCMA"}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
MIRROR = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


@dataclass
class MediaDesc:
    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    rtpmap: dict[str, str] = field(default_factory=dict)  # pt -> "telephone-event/8000"
    direction: str = "sendrecv"
    ptime: int | None = None


@dataclass
class SessionDesc:
    connection: str | None
    media: list[MediaDesc]
    direction: str = "sendrecv"


@dataclass(frozen=True, slots=True)
class Negotiated:
    remote_host: str
    remote_port: int
    payload_type: int
    codec: str  # "PCMU" or "PCMA"
    dtmf_pt: int | None  # telephone-event payload type, when the peer offered it
    direction: str  # ours: what the PBX may do (sendrecv, sendonly, recvonly, inactive)
    ptime: int = 20


def parse(body: bytes) -> SessionDesc | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    conn: str | None = None
    direction = "sendrecv"
    media: list[MediaDesc] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        m = media[-1] if media else None
        if kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                return None
            media.append(MediaDesc(parts[0], int(parts[1].split("/")[0]), parts[2], parts[3:]))
        elif kind == "c":
            parts = value.split()
            if len(parts) >= 3 and parts[0] == "IN":
                addr = parts[2].split("/")[0]
                if m is None:
                    conn = addr
                else:
                    m.connection = addr
        elif kind == "a":
            name, _, rest = value.partition(":")
            if name in DIRECTIONS:
                if m is None:
                    direction = name
                else:
                    m.direction = name
            elif name == "rtpmap" and m is not None:
                pt, _, enc = rest.partition(" ")
                m.rtpmap[pt.strip()] = enc.strip()
            elif name == "ptime" and m is not None and rest.strip().isdigit():
                m.ptime = int(rest.strip())
    if not media:
        return None
    for md in media:
        if md.direction == "sendrecv" and direction != "sendrecv":
            md.direction = direction  # a session-level attribute applies to media without one
    return SessionDesc(conn, media, direction)


def _codec_of(md: MediaDesc, pt: str) -> str | None:
    enc = md.rtpmap.get(pt)
    if enc is not None:
        name, _, rate = enc.partition("/")
        name = name.upper()
        return name if name in CODECS and rate.split("/")[0] in ("8000", "") else None
    return STATIC_NAMES.get(int(pt)) if pt.isdigit() else None


def _dtmf_pt(md: MediaDesc) -> int | None:
    for pt, enc in md.rtpmap.items():
        if enc.lower().startswith("telephone-event/8000") and pt.isdigit():
            return int(pt)
    return None


def negotiate(
    offer: SessionDesc, codecs: tuple[str, ...] = ("PCMU", "PCMA")
) -> tuple[int, Negotiated] | None:
    """(index of the audio stream taken, what was agreed), or None when nothing fits."""
    for i, md in enumerate(offer.media):
        if md.kind != "audio" or md.port == 0 or not md.proto.startswith("RTP/AVP"):
            continue
        host = md.connection or offer.connection
        if host is None:
            continue
        for pt in md.formats:
            codec = _codec_of(md, pt)
            if codec is not None and codec in codecs:
                return i, Negotiated(host, md.port, int(pt), codec, _dtmf_pt(md), MIRROR[md.direction],
                                     md.ptime or 20)  # fmt: skip
    return None


def _audio_lines(n: Negotiated, port: int) -> list[str]:
    fmts = [str(n.payload_type)] + ([str(n.dtmf_pt)] if n.dtmf_pt is not None else [])
    lines = [f"m=audio {port} RTP/AVP {' '.join(fmts)}", f"a=rtpmap:{n.payload_type} {n.codec}/8000"]
    if n.dtmf_pt is not None:
        lines += [f"a=rtpmap:{n.dtmf_pt} telephone-event/8000", f"a=fmtp:{n.dtmf_pt} 0-15"]
    lines += ["a=ptime:20", f"a={n.direction}"]
    return lines


def _head(host: str, session_id: int, version: int) -> list[str]:
    ip = "IP6" if ":" in host else "IP4"
    return ["v=0", f"o=pbx {session_id} {version} IN {ip} {host}", "s=pbx", f"c=IN {ip} {host}", "t=0 0"]


def answer(offer: SessionDesc, host: str, port: int, session_id: int, version: int,
           codecs: tuple[str, ...] = ("PCMU", "PCMA")) -> tuple[bytes, Negotiated] | None:  # fmt: skip
    """The PBX's answer to `offer`, receiving on host:port; None if no stream can be accepted."""
    found = negotiate(offer, codecs)
    if found is None:
        return None
    index, n = found
    lines = _head(host, session_id, version)
    for i, md in enumerate(offer.media):
        if i == index:
            lines += _audio_lines(n, port)
        else:
            lines.append(f"m={md.kind} 0 {md.proto} {' '.join(md.formats)}")  # rejected (RFC 3264 6)
    return ("\r\n".join(lines) + "\r\n").encode(), n


def offer(host: str, port: int, session_id: int, version: int, direction: str = "sendrecv") -> bytes:
    """An offer from the PBX: PCMU, PCMA and telephone-event/8000 (payload type 101)."""
    lines = [
        *_head(host, session_id, version),
        f"m=audio {port} RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        f"a={direction}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def direction_of(body: bytes) -> str | None:
    """The direction of the first audio stream (hold: sendonly/inactive), None without SDP."""
    desc = parse(body) if body else None
    if desc is None:
        return None
    audio = next((m for m in desc.media if m.kind == "audio"), None)
    if audio is None:
        return None
    host = audio.connection or desc.connection
    if audio.port == 0 or host in ("0.0.0.0", "::"):
        return (
            "inactive"
            if audio.port == 0
            else "sendonly"
            if audio.direction == "sendrecv"
            else audio.direction
        )
    return audio.direction
