# ruff: noqa: E501
"""A minimal SIP + RTP user agent for the media wire tests: calls the PBX, records the RTP it gets.

SIPp can place the calls but cannot tell which prompt it heard; this UA can: it keeps every RTP
packet (with its arrival time) so a test compares the payload with the prompt file byte for
byte, and checks sequence numbers, timestamps and the marker bit. It speaks just enough SIP:
INVITE with digest (407), ACK, INFO, BYE in both directions. Every wait has a deadline.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import socket
import struct
import time
from array import array
from dataclasses import dataclass, field

from pbx.media.g711 import ulaw_encode


def _digest(challenge: str, user: str, password: str, method: str, uri: str) -> str:
    nonce = re.search(r'nonce="([^"]+)"', challenge)
    realm = re.search(r'realm="([^"]+)"', challenge)
    assert nonce and realm, challenge
    ha1 = hashlib.md5(f"{user}:{realm[1]}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    cnonce, nc = secrets.token_hex(4), "00000001"
    resp = hashlib.md5(f"{ha1}:{nonce[1]}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (f'Digest username="{user}", realm="{realm[1]}", nonce="{nonce[1]}", uri="{uri}", '
            f'response="{resp}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"')  # fmt: skip


def _crlf_len(body: str) -> int:
    return len(body.replace("\r\n", "\n").replace("\n", "\r\n").encode())


@dataclass
class RtpIn:
    arrival: float
    pt: int
    seq: int
    ts: int
    marker: bool
    payload: bytes


@dataclass
class MediaUA:
    user: str
    password: str
    pbx: tuple[str, int]
    host: str = "127.0.0.1"
    sip: socket.socket = field(init=False)
    rtp: socket.socket = field(init=False)
    call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    cseq: int = 1
    remote_tag: str = ""
    pbx_target: str = ""
    received: list[RtpIn] = field(default_factory=list)
    bye: bytes | None = None
    telephone_event: bool = True  # offer RFC 4733; without it the PBX listens for tones in-band
    media_port: int = 0  # the PBX's RTP port, from its 200
    events_sent: int = 0  # RFC 4733 presses so far

    def __post_init__(self) -> None:
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((self.host, 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((self.host, 0))
        self.port = self.sip.getsockname()[1]
        self.rtp_port = self.rtp.getsockname()[1]

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    # --- SIP ---------------------------------------------------------------------------------------
    def _send(self, text: str) -> None:
        """`text` with bare newlines; sent with CRLF (bodies too: Content-Length counts CRLF)."""
        self.sip.sendto(text.replace("\r\n", "\n").replace("\n", "\r\n").encode(), self.pbx)

    def _recv(self, timeout: float, want: str) -> bytes:
        """The next SIP message whose first line contains `want` (others are kept as a BYE or
        dropped); raises TimeoutError."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.user}: no {want!r} within {timeout} s")
            self.sip.settimeout(left)
            try:
                data = self.sip.recv(65535)
            except TimeoutError:
                continue
            first = data.split(b"\r\n", 1)[0].decode(errors="replace")
            if first.startswith("BYE "):
                self.bye = data
            if want in first:
                return data

    def sdp(self) -> str:
        te = " 101" if self.telephone_event else ""
        lines = "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n" if self.telephone_event else ""
        return (f"v=0\no=ua 1 1 IN IP4 {self.host}\ns=-\nc=IN IP4 {self.host}\nt=0 0\n"
                f"m=audio {self.rtp_port} RTP/AVP 0{te}\na=rtpmap:0 PCMU/8000\n{lines}")  # fmt: skip

    def _invite(self, number: str, auth: str, branch: str) -> None:
        body = self.sdp()
        uri = f"sip:{number}@{self.pbx[0]}:{self.pbx[1]}"
        self._send(
            f"INVITE {uri} SIP/2.0\nVia: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport\n"
            f"Max-Forwards: 70\nFrom: <sip:{self.user}@{self.pbx[0]}>;tag={self.tag}\nTo: <{uri}>\n"
            f"Call-ID: {self.call_id}\nCSeq: {self.cseq} INVITE\nContact: <sip:{self.user}@{self.host}:{self.port}>\n"
            f"{auth}Content-Type: application/sdp\nContent-Length: {_crlf_len(body)}\n\n{body}"
        )

    def call(self, number: str, timeout: float = 10.0) -> bytes:
        """INVITE, answer the 407, wait for the 200, ACK it. Returns the 200."""
        uri = f"sip:{number}@{self.pbx[0]}:{self.pbx[1]}"
        b1 = "z9hG4bK" + secrets.token_hex(6)
        self._invite(number, "", b1)
        r407 = self._recv(timeout, "407").decode()
        to = re.search(r"^To: (.*)$", r407, re.M | re.I)
        assert to
        self._send(
            f"ACK {uri} SIP/2.0\nVia: SIP/2.0/UDP {self.host}:{self.port};branch={b1};rport\nMax-Forwards: 70\n"
            f"From: <sip:{self.user}@{self.pbx[0]}>;tag={self.tag}\nTo: {to[1].strip()}\nCall-ID: {self.call_id}\n"
            f"CSeq: {self.cseq} ACK\nContent-Length: 0\n\n"
        )
        challenge = re.search(r"^Proxy-Authenticate: (.*)$", r407, re.M | re.I)
        assert challenge
        self.cseq += 1
        auth = (
            f"Proxy-Authorization: {_digest(challenge[1].strip(), self.user, self.password, 'INVITE', uri)}\n"
        )
        self._invite(number, auth, "z9hG4bK" + secrets.token_hex(6))
        ok = self._recv(timeout, "200")
        text = ok.decode()
        tag = re.search(r"^To: .*;tag=([^;\s]+)", text, re.M | re.I)
        contact = re.search(r"^Contact: .*<([^>]+)>", text, re.M | re.I)
        assert tag and contact, text
        self.remote_tag, self.pbx_target = tag[1], contact[1]
        port = re.search(r"^m=audio (\d+) ", text, re.M)
        self.media_port = int(port[1]) if port else 0
        self._in_dialog("ACK", self.cseq)
        return ok

    def _in_dialog(self, method: str, cseq: int, body: str = "", ctype: str = "") -> None:
        extra = f"Content-Type: {ctype}\n" if ctype else ""
        self._send(
            f"{method} {self.pbx_target} SIP/2.0\nVia: SIP/2.0/UDP {self.host}:{self.port};"
            f"branch=z9hG4bK{secrets.token_hex(6)};rport\nMax-Forwards: 70\n"
            f"From: <sip:{self.user}@{self.pbx[0]}>;tag={self.tag}\nTo: <sip:x@{self.pbx[0]}>;tag={self.remote_tag}\n"
            f"Call-ID: {self.call_id}\nCSeq: {cseq} {method}\n{extra}Content-Length: {_crlf_len(body)}\n\n{body}"
        )

    def info_digit(self, digit: str, timeout: float = 5.0) -> None:
        self.cseq += 1
        self._in_dialog("INFO", self.cseq, f"Signal={digit}\nDuration=160\n", "application/dtmf-relay")
        self._recv(timeout, "200")

    def send_rfc4733(self, digit: str, pt: int = 101) -> None:
        """One telephone-event: 3 packets of the event, then 3 end packets (RFC 4733 2.5)."""
        event = "0123456789*#".index(digit)
        # each press is a new event, and RFC 4733 names an event by its timestamp
        ssrc, seq, ts = 0x1234, 100 + 10 * self.events_sent, 8000 + 1600 * self.events_sent
        self.events_sent += 1
        for i in range(6):
            end = i >= 3
            duration = 160 * (i + 1) if not end else 160 * 4
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
            head = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | pt, seq + i, ts, ssrc)
            self.rtp.sendto(head + payload, (self.pbx[0], self.media_port))

    def send_tone(self, digit: str, ms: int = 100) -> None:
        """The digit as audio (two sines, G.711 u-law), then as much silence: in-band DTMF."""
        rows, cols = (697, 770, 852, 941), (1209, 1336, 1477)
        keys = "123456789*0#"
        i = keys.index(digit)
        lo, hi = rows[i // 3], cols[i % 3]
        samples = [int(6000 * (math.sin(2 * math.pi * lo * n / 8000) + math.sin(2 * math.pi * hi * n / 8000)))
                   for n in range(8 * ms)] + [0] * (8 * ms)  # fmt: skip
        audio = ulaw_encode(array("h", samples))
        for k in range(0, len(audio), 160):
            head = struct.pack("!BBHII", 0x80, 0, 500 + k // 160, 16000 + k, 0x4321)
            self.rtp.sendto(head + audio[k : k + 160], (self.pbx[0], self.media_port))

    def answer_reinvite(self, timeout: float) -> bytes:
        """Wait for the PBX's re-INVITE (joining us to someone), answer it with our SDP, take the ACK.
        RTP that arrives meanwhile is kept."""
        self.rtp.setblocking(False)
        end = time.monotonic() + timeout
        data = b""
        self.sip.setblocking(False)
        while time.monotonic() < end:
            self._drain_rtp()
            try:
                data = self.sip.recv(65535)
            except BlockingIOError:
                self._wait_readable(0.05)
                continue
            if data.startswith(b"INVITE "):
                break
        self.sip.setblocking(True)
        if not data.startswith(b"INVITE "):
            raise TimeoutError(f"{self.user}: no re-INVITE within {timeout} s")
        text = data.decode()
        via = re.findall(r"^Via: .*$", text, re.M | re.I)
        frm = re.search(r"^From: .*$", text, re.M | re.I)
        to = re.search(r"^To: .*$", text, re.M | re.I)
        cseq = re.search(r"^CSeq: .*$", text, re.M | re.I)
        assert frm and to and cseq
        body = self.sdp().replace("o=ua 1 1", "o=ua 1 2")
        self._send("SIP/2.0 200 OK\n" + "\n".join(via) + f"\n{frm[0]}\n{to[0]}\nCall-ID: {self.call_id}\n"
                   f"{cseq[0]}\nContact: <sip:{self.user}@{self.host}:{self.port}>\nContent-Type: application/sdp\n"
                   f"Content-Length: {_crlf_len(body)}\n\n{body}")  # fmt: skip
        self._recv(timeout, "ACK ")
        return data

    def hang_up(self, timeout: float = 5.0) -> None:
        self.cseq += 1
        self._in_dialog("BYE", self.cseq)
        self._recv(timeout, "200")

    def wait_bye(self, timeout: float) -> bytes:
        if self.bye is None:
            self._recv(timeout, "BYE ")
        assert self.bye is not None
        text = self.bye.decode()
        via = re.findall(r"^Via: .*$", text, re.M | re.I)
        frm = re.search(r"^From: .*$", text, re.M | re.I)
        to = re.search(r"^To: .*$", text, re.M | re.I)
        cseq = re.search(r"^CSeq: .*$", text, re.M | re.I)
        assert frm and to and cseq
        self._send("SIP/2.0 200 OK\n" + "\n".join(via) + f"\n{frm[0]}\n{to[0]}\nCall-ID: {self.call_id}\n"
                   f"{cseq[0]}\nContent-Length: 0\n\n")  # fmt: skip
        return self.bye

    # --- RTP ---------------------------------------------------------------------------------------
    def record_until_bye(self, timeout: float) -> list[RtpIn]:
        """Keep every RTP packet until the PBX's BYE arrives (answered 200)."""
        end = time.monotonic() + timeout
        self.rtp.setblocking(False)
        self.sip.setblocking(False)
        while time.monotonic() < end and self.bye is None:
            self._drain_rtp()
            try:
                data = self.sip.recv(65535)
                if data.startswith(b"BYE "):
                    self.bye = data
            except BlockingIOError:
                self._wait_readable(min(0.05, max(0.0, end - time.monotonic())))
        self._drain_rtp()
        self.sip.setblocking(True)
        if self.bye is not None:
            self.wait_bye(1.0)
        return self.received

    def record_for(self, seconds: float) -> list[RtpIn]:
        end = time.monotonic() + seconds
        self.rtp.setblocking(False)
        while time.monotonic() < end:
            self._drain_rtp()
            self._wait_readable(min(0.05, max(0.0, end - time.monotonic())))
        return self.received

    def _wait_readable(self, timeout: float) -> None:
        import select

        select.select([self.rtp, self.sip], [], [], timeout)

    def _drain_rtp(self) -> None:
        while True:
            try:
                data = self.rtp.recv(2048)
            except BlockingIOError:
                return
            _b0, b1, seq, ts, _ssrc = struct.unpack("!BBHII", data[:12])
            self.received.append(RtpIn(time.monotonic(), b1 & 0x7F, seq, ts, bool(b1 & 0x80), data[12:]))
