"""RFC 4475 / RFC 5118 torture messages, each sent as one UDP datagram to the running PBX.

The expected answer of every file is in EXPECTED below: the table of the conformance README
(/work/shared/conformance/README.md: what RFC 4475 / 5118 expect of a registrar / B2BUA).

How answers come back: the messages' Via headers name hosts such as 192.0.2.x or
example.com, where the PBX must never send anything (it only talks to allowed destinations).
The PBX routes responses to a request received over UDP like RFC 3261 18.2.2 with RFC 3581:
to the packet's source address and port when the top Via has `rport`, else to the Via's
sent-by port at the source (`received`) address. So the test adds `;rport` to the first
via-parm of the top Via and changes nothing else (byte-exact otherwise; the body length does
not change). Responses in the fixtures (bcast, bigcode, ...) are sent untouched.

Sync without sleeping: after each message the test sends a valid OPTIONS probe from the same
socket. The PBX handles the datagrams of one socket in order, so once the probe's 200 is back,
any answer to the message would have come already. That also checks, after every single
message, that the PBX is still alive and answering.

Transaction matching: several fixtures share a top Via branch, sent-by and method (RFC 3261
17.2.3's server transaction key; e.g. unkscm and novelsc, or the four IPv6 REGISTERs of RFC
5118). Sent to one PBX within Timer J (32 s) the second one *is* a retransmission of the
first, and the PBX rightly answers it to where the first came from. Rather than editing the
branches, such messages go to a fresh PBX: ROUNDS[name] is the number of earlier fixtures with
the same key, and each round has its own daemon.
"""

from __future__ import annotations

import itertools
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from harness import Pbx, header_values, options_request, status_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ANSWER_TIMEOUT = 5.0  # seconds to wait for a final answer / for the probe's answer

DROP = "drop"  # no answer at all (not even 1xx)
PROCESSED = "processed"  # handled like any valid message: a final answer that is not 400 (nor 500)
ANY = "any"  # some final answer, accepted or rejected
Expect = int | str | tuple[int | str, ...]

# One entry per fixture file. int = that final status; tuple = one of these.
EXPECTED: dict[str, Expect] = {
    # --- RFC 4475 3.1.1: valid messages, handled like any request (responses: never answered)
    "rfc4475/wsinv.dat": PROCESSED,  # folding, odd whitespace, compact forms, unknown headers
    "rfc4475/intmeth.dat": PROCESSED,  # an unknown (but legal) method: 501/405, not 400
    "rfc4475/esc01.dat": PROCESSED,
    "rfc4475/escnull.dat": PROCESSED,  # %00 in the user part is legal
    "rfc4475/esc02.dat": PROCESSED,  # "RE%47IST%45R" is an unknown method, not REGISTER
    "rfc4475/lwsdisp.dat": PROCESSED,
    "rfc4475/longreq.dat": PROCESSED,  # 3.5 kB, many headers: within the PBX's bounds
    "rfc4475/dblreq.dat": PROCESSED,  # only the REGISTER counts; the INVITE after it is ignored
    "rfc4475/semiuri.dat": PROCESSED,
    "rfc4475/transports.dat": PROCESSED,
    "rfc4475/mpart01.dat": PROCESSED,  # its top Via already has rport (left as it is)
    "rfc4475/unreason.dat": DROP,  # a response matching no transaction: dropped
    "rfc4475/noreason.dat": DROP,  # idem (100 without reason phrase)
    # --- RFC 4475 3.1.2: invalid messages -> 400 where a response can be built, else dropped
    "rfc4475/badinv01.dat": (400, DROP),  # top Via "192.0.2.15;;,;,,": a response can hardly be built
    "rfc4475/clerr.dat": 400,  # Content-Length larger than the datagram
    "rfc4475/ncl.dat": 400,  # negative Content-Length
    "rfc4475/scalar02.dat": 400,  # CSeq number out of range
    "rfc4475/scalarlg.dat": DROP,  # an invalid response: dropped
    "rfc4475/quotbal.dat": 400,  # unterminated quoted string
    "rfc4475/ltgtruri.dat": 400,  # <> around the Request-URI
    "rfc4475/lwsruri.dat": 400,  # whitespace inside the Request-URI
    "rfc4475/lwsstart.dat": 400,  # several spaces in the request line
    "rfc4475/escruri.dat": 400,  # escaped headers in the Request-URI (the table says 400)
    "rfc4475/baddate.dat": 400,  # Date not in GMT
    "rfc4475/regbadct.dat": 400,  # Contact with escaped headers but no <>
    "rfc4475/badaspec.dat": 400,  # whitespace inside < sip: ... >
    "rfc4475/baddn.dat": 400,  # unquoted display name with a comma
    "rfc4475/badvers.dat": 505,  # SIP/7.0
    "rfc4475/mismatch01.dat": 400,  # CSeq method differs from the request method
    "rfc4475/mismatch02.dat": 400,  # idem, with an unknown method
    "rfc4475/bigcode.dat": DROP,  # an invalid response (status 4294967301): dropped
    "rfc4475/trws.dat": ANY,  # trailing whitespace after the version: accept or reject
    # --- RFC 4475 3.2: transaction layer
    "rfc4475/badbranch.dat": PROCESSED,  # branch is just the magic cookie: RFC 2543 matching
    # --- RFC 4475 3.3: application semantics
    "rfc4475/insuf.dat": 400,  # no Call-ID / From / To / Max-Forwards
    "rfc4475/unkscm.dat": 416,  # unknown Request-URI scheme
    "rfc4475/novelsc.dat": 416,  # idem (soap.beep)
    "rfc4475/unksm2.dat": PROCESSED,  # unknown schemes in To/From/Contact are allowed
    "rfc4475/bext01.dat": 420,  # Require: an unknown extension -> 420 with Unsupported
    "rfc4475/invut.dat": 415,  # unknown body type -> 415 with Accept
    "rfc4475/regaut01.dat": 401,  # unknown auth scheme: challenged, never accepted
    "rfc4475/multi01.dat": 400,  # several Call-ID / CSeq / To / From headers
    "rfc4475/mcl01.dat": 400,  # several Content-Length headers
    "rfc4475/bcast.dat": DROP,  # a response (2nd Via 255.255.255.255): nothing sent anywhere
    "rfc4475/zeromf.dat": PROCESSED,  # Max-Forwards 0 at its target: handled (not 483)
    "rfc4475/cparam01.dat": PROCESSED,  # REGISTER (unauthenticated here: challenged)
    "rfc4475/cparam02.dat": PROCESSED,
    "rfc4475/regescrt.dat": PROCESSED,
    "rfc4475/sdp01.dat": 406,  # Accept offers nothing the PBX can send
    # --- RFC 4475 3.4: backward compatibility
    "rfc4475/inv2543.dat": PROCESSED,  # RFC 2543 syntax (no branch, no tags): accepted
    # --- RFC 5118: IPv6
    "rfc5118/ipv6-good": PROCESSED,
    "rfc5118/ipv4-mapped-ipv6": PROCESSED,
    "rfc5118/ipv6-correct-abnf-2-colons": PROCESSED,
    "rfc5118/port-unambiguous": PROCESSED,
    "rfc5118/port-ambiguous": PROCESSED,  # well-formed; the ambiguity is semantic
    "rfc5118/via-received-param-with-delim": PROCESSED,
    "rfc5118/via-received-param-no-delim": PROCESSED,
    "rfc5118/mult-ip-in-header": PROCESSED,
    "rfc5118/mult-ip-in-sdp": PROCESSED,
    "rfc5118/ipv6-in-sdp": PROCESSED,
    "rfc5118/ipv6-bad": 400,  # IPv6 reference without brackets in the Request-URI
    "rfc5118/ipv6-bug-abnf-3-colons": 400,  # ":::" is not an IPv6 address
}


def _cseq_register_only(answers: list[bytes]) -> str | None:
    methods = {v.split()[-1] for a in answers for v in header_values(a, "CSeq") if v.split()}
    return None if methods == {"REGISTER"} else f"answers for CSeq methods {methods}, expected REGISTER only"


def _unsupported_lists_extensions(answers: list[bytes]) -> str | None:
    values = " ".join(v for a in answers for v in header_values(a, "Unsupported"))
    if "nothingSupportsThis" in values and "nothingSupportsThisEither" in values:
        return None
    return f"420 must name the unsupported extensions in Unsupported, got {values!r}"


def _has_accept(answers: list[bytes]) -> str | None:
    return None if all(header_values(a, "Accept") for a in answers) else "415 without an Accept header"


def _has_digest_challenge(answers: list[bytes]) -> str | None:
    ok = all(
        any(v.lower().startswith("digest") for v in header_values(a, "WWW-Authenticate")) for a in answers
    )
    return None if ok else "401 without a Digest WWW-Authenticate challenge"


def _not_483(answers: list[bytes]) -> str | None:
    codes = [status_of(a) for a in answers]
    return "the PBX is the target: Max-Forwards 0 must not get 483" if 483 in codes else None


# Extra checks on the final answers of some files: return None if fine, else what is wrong.
EXTRA_CHECKS: dict[str, Callable[[list[bytes]], str | None]] = {
    "rfc4475/dblreq.dat": _cseq_register_only,
    "rfc4475/bext01.dat": _unsupported_lists_extensions,
    "rfc4475/invut.dat": _has_accept,
    "rfc4475/regaut01.dat": _has_digest_challenge,
    "rfc4475/zeromf.dat": _not_483,
}

VIA_LINE = re.compile(rb"(?i)^(?:via|v)[ \t]*:")
RPORT = re.compile(rb"(?i);[ \t\r\n]*rport(?![-\w])")


def with_rport(message: bytes) -> bytes:
    """Add ';rport' to the first via-parm of the top Via of a request; nothing else changes.

    Responses are returned untouched. The Via value may be folded over several lines (wsinv);
    ';rport' goes right after its last non-blank octet before the first comma (or its end).
    """
    if message.startswith(b"SIP/"):
        return message
    head_end = message.find(b"\r\n\r\n")
    head = message if head_end < 0 else message[:head_end]
    lines = head.split(b"\r\n")
    offset = len(lines[0]) + 2
    for index in range(1, len(lines)):
        if VIA_LINE.match(lines[index]):
            break
        offset += len(lines[index]) + 2
    else:
        return message  # no Via: nothing to route by anyway
    last = index
    while last + 1 < len(lines) and lines[last + 1][:1] in (b" ", b"\t"):
        last += 1
    value_start = offset + lines[index].index(b":") + 1
    value_end = offset + sum(len(line) + 2 for line in lines[index : last + 1]) - 2
    value = message[value_start:value_end]
    comma = value.find(b",")
    first_parm = value if comma < 0 else value[:comma]
    if RPORT.search(first_parm):
        return message
    cut = value_start + len(first_parm)
    while cut > value_start and message[cut - 1 : cut] in (b" ", b"\t", b"\r", b"\n"):
        cut -= 1
    return message[:cut] + b";rport" + message[cut:]


@dataclass
class Exchange:
    answers: list[bytes] = field(default_factory=list)  # responses to the fixture message
    others: list[bytes] = field(default_factory=list)  # anything else (requests sent to us...)
    probe_status: int | None = None

    @property
    def finals(self) -> list[int]:
        return [s for s in (status_of(a) for a in self.answers) if s is not None and s >= 200]

    def describe(self) -> str:
        firsts = [a.split(b"\r\n", 1)[0].decode(errors="replace") for a in self.answers]
        return f"answers={firsts} probe={self.probe_status} others={len(self.others)}"


_probe_ids = itertools.count(1)


def exchange(pbx: Pbx, message: bytes, wait_final: bool) -> Exchange:
    """Send `message` from a fresh socket, then an OPTIONS probe; collect what comes back."""
    out = Exchange()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(message, pbx.sip_addr)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        probe_tag = f"conformance-probe-{next(_probe_ids)}"

        def receive(until: Callable[[], bool]) -> None:
            while not until():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                sock.settimeout(remaining)
                try:
                    data = sock.recv(65535)
                except TimeoutError:
                    return
                if probe_tag.encode() in data and status_of(data) is not None:
                    out.probe_status = status_of(data)
                elif status_of(data) is not None:
                    out.answers.append(data)
                else:
                    out.others.append(data)

        if wait_final:
            receive(lambda: bool(out.finals))
        sock.sendto(options_request(pbx.sip_addr, sock.getsockname(), probe_tag), pbx.sip_addr)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        receive(lambda: out.probe_status is not None)
    return out


def check(expect: Expect, ex: Exchange) -> str | None:
    """None if the exchange meets the expectation, else what is wrong."""
    options = expect if isinstance(expect, tuple) else (expect,)
    for option in options:
        if option == DROP and not ex.answers:
            return None
        if option == ANY and ex.finals:
            return None
        if option == PROCESSED and ex.finals and not set(ex.finals) & {400, 500}:
            return None
        if isinstance(option, int) and ex.finals and set(ex.finals) == {option}:
            return None
    return f"expected {expect}, got {ex.describe()}"


def transaction_key(message: bytes) -> tuple[bytes, ...] | None:
    """RFC 3261 17.2.3 server transaction key (branch, sent-by, method) of a request, or None.

    None for responses and for requests without a magic-cookie branch (RFC 2543 matching, by
    their own Call-ID, tags and CSeq: all different among the fixtures).
    """
    if message.startswith(b"SIP/"):
        return None
    head = re.sub(rb"\r\n[ \t]+", b" ", message.split(b"\r\n\r\n", 1)[0])
    lines = head.split(b"\r\n")
    method = lines[0].split(b" ", 1)[0]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"via", b"v"):
            via = value.split(b",", 1)[0]
            branch = re.search(rb"(?i)branch\s*=\s*([^;\s]+)", via)
            if branch is None or not branch.group(1).startswith(b"z9hG4bK"):
                return None
            sent_by = re.sub(rb"(?i)^\s*SIP\s*/\s*2\.0\s*/\s*\S+\s+", b"", via).split(b";", 1)[0].strip()
            return (branch.group(1), sent_by.lower(), b"INVITE" if method == b"ACK" else method)
    return None


def _rounds() -> dict[str, int]:
    seen: dict[tuple[bytes, ...], int] = {}
    rounds: dict[str, int] = {}
    for name in EXPECTED:
        path = FIXTURES / name
        key = transaction_key(path.read_bytes()) if path.is_file() else None
        rounds[name] = seen.get(key, 0) if key is not None else 0
        if key is not None:
            seen[key] = rounds[name] + 1
    return rounds


ROUNDS = _rounds()
CASES = sorted(EXPECTED, key=lambda name: ROUNDS[name])  # stable: table order within a round


class PbxRounds:
    """One PBX per round (see the module docstring); the previous one stops when a round starts."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.round = -1
        self.pbx: Pbx | None = None
        self.exit_codes: list[int] = []  # of the daemons stopped so far (SIGTERM: 0 expected)

    def get(self, round_: int) -> Pbx:
        if round_ != self.round or self.pbx is None:
            self.close()
            self.pbx = Pbx(self.factory.mktemp(f"conformance{round_}"), users=10, rps=0, ban_after=100_000)
            self.pbx.start()
            self.round = round_
        return self.pbx

    def close(self) -> None:
        if self.pbx is not None:
            self.exit_codes.append(self.pbx.stop())
            self.pbx = None


@pytest.fixture(scope="module")
def conformance_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PbxRounds]:
    rounds = PbxRounds(tmp_path_factory)
    yield rounds
    rounds.close()


def fixture_files() -> list[str]:
    files = sorted(FIXTURES.glob("rfc4475/*.dat")) + sorted(
        p for p in FIXTURES.glob("rfc5118/*") if p.is_file()
    )
    return [str(p.relative_to(FIXTURES)) for p in files]


def test_expected_table_covers_every_fixture() -> None:
    files = fixture_files()
    assert len(files) == 61, f"expected 49 + 12 fixture files under {FIXTURES}, found {len(files)}"
    assert set(files) == set(EXPECTED), {
        "without expectation": sorted(set(files) - set(EXPECTED)),
        "missing files": sorted(set(EXPECTED) - set(files)),
    }


def test_rport_edit_only_adds_rport() -> None:
    for name in EXPECTED:
        raw = (FIXTURES / name).read_bytes()
        sent = with_rport(raw)
        assert sent == raw or (len(sent) == len(raw) + 6 and sent.replace(b";rport", b"", 1) == raw), name
    wsinv = with_rport((FIXTURES / "rfc4475/wsinv.dat").read_bytes())
    assert b"192.0.2.2;branch=390skdjuw;rport\r\n" in wsinv  # folded top Via
    badinv = with_rport((FIXTURES / "rfc4475/badinv01.dat").read_bytes())
    assert b"192.0.2.15;;;rport,;,," in badinv  # first via-parm only


def test_rounds_separate_colliding_transactions() -> None:
    assert ROUNDS["rfc4475/unkscm.dat"] != ROUNDS["rfc4475/novelsc.dat"]
    assert len({ROUNDS[f"rfc5118/{n}"] for n in ("ipv6-good", "port-ambiguous", "port-unambiguous")}) == 3
    assert ROUNDS["rfc4475/wsinv.dat"] == 0


@pytest.mark.parametrize("name", CASES)
def test_torture_message(conformance_pbx: PbxRounds, name: str) -> None:
    pbx = conformance_pbx.get(ROUNDS[name])
    raw = (FIXTURES / name).read_bytes()
    expect = EXPECTED[name]
    options = expect if isinstance(expect, tuple) else (expect,)
    ex = exchange(pbx, with_rport(raw), wait_final=options != (DROP,))
    assert ex.probe_status == 200, (
        f"after {name} the PBX no longer answers OPTIONS ({ex.describe()})\n{pbx.log()}"
    )
    problem = check(expect, ex)
    assert problem is None, f"{name}: {problem}\n" + "\n---\n".join(
        a.decode(errors="replace") for a in ex.answers[:2]
    )
    extra = EXTRA_CHECKS.get(name)
    if extra is not None and ex.answers:
        finals = [a for a in ex.answers if (status_of(a) or 0) >= 200]
        assert (msg := extra(finals)) is None, f"{name}: {msg}\n" + finals[0].decode(errors="replace")


def test_pbx_survives_all_messages(conformance_pbx: PbxRounds) -> None:
    # runs after the parametrized test above (file order): the daemon of the last round is
    # alive and answers, and every round's daemon stopped gracefully
    pbx = conformance_pbx.get(conformance_pbx.round)
    assert pbx.running(), pbx.log()
    ex = exchange(pbx, options_request(pbx.sip_addr, ("127.0.0.1", 9), "final"), True)
    assert ex.finals == [200] and ex.probe_status == 200, ex.describe()
    assert all(rc == 0 for rc in conformance_pbx.exit_codes), f"exit codes {conformance_pbx.exit_codes}"
