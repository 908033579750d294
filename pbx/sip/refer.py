"""REFER (RFC 3515), Replaces (RFC 3891) and the sipfrag NOTIFY body (RFC 3420): parsing and rendering.

A REFER names its target in exactly one Refer-To; an attended transfer embeds the dialog to replace
in that URI's headers (`?Replaces=<call-id>%3Bto-tag%3D...%3Bfrom-tag%3D...`). The same Replaces
value comes as a header on an INVITE that takes over a dialog (attended transfer completed by the
target, or pickup from a BLF key). Errors carry the status a server answers with.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from pbx.sip.errors import SipParseError
from pbx.sip.headers import NameAddr, param_value, parse_name_addr, parse_params
from pbx.sip.message import REASONS, Request
from pbx.sip.uri import parse_uri

SIPFRAG = "message/sipfrag;version=2.0"


@dataclass(frozen=True, slots=True)
class Replaces:
    """Identifies a dialog from the point of view of the PBX's leg that the sender talks to."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    def render(self) -> str:
        early = ";early-only" if self.early_only else ""
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}{early}"


def parse_replaces(value: str) -> Replaces:
    """Parse a Replaces header value; a missing tag or call-id is 400 (RFC 3891 section 6.1)."""
    text = value.strip(" \t")
    semi = text.find(";")
    call_id = (text if semi < 0 else text[:semi]).strip(" \t")
    if not call_id:
        raise SipParseError("Replaces without a call-id")
    params = parse_params(text[semi:], "Replaces") if semi >= 0 else ()
    to_tag = param_value(params, "to-tag")
    from_tag = param_value(params, "from-tag")
    if not to_tag or not from_tag:
        raise SipParseError("Replaces needs to-tag and from-tag")
    return Replaces(call_id, to_tag, from_tag, param_value(params, "early-only") is not None)


@dataclass(frozen=True, slots=True)
class ReferTarget:
    """What a REFER asks for: the target (URI headers stripped) and an embedded Replaces, if any."""

    target: NameAddr
    replaces: Replaces | None
    referred_by: NameAddr | None


def _uri_headers(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        name, _, val = part.partition("=")
        out[unquote(name).strip().lower()] = unquote(val)
    return out


def parse_refer(req: Request) -> ReferTarget:
    """The REFER's target; 400 for no Refer-To, several, or one that cannot be parsed."""
    values = req.headers.get_all("refer-to")
    if len(values) != 1:
        raise SipParseError("REFER needs exactly one Refer-To")
    try:
        na = parse_name_addr(values[0])
    except SipParseError as exc:
        raise SipParseError(f"bad Refer-To: {exc}") from exc
    replaces: Replaces | None = None
    uri = na.uri
    if uri.headers:
        heads = _uri_headers(uri.headers)
        if "replaces" in heads:
            replaces = parse_replaces(heads["replaces"])
        bare = uri.text.split("?", 1)[0]
        na = NameAddr(na.display, parse_uri(bare), na.params, True)
    by_text = req.headers.get("referred-by")
    referred_by: NameAddr | None = None
    if by_text:
        try:
            referred_by = parse_name_addr(by_text)
        except SipParseError:
            referred_by = None  # informational only: a bad Referred-By does not fail the transfer
    return ReferTarget(na, replaces, referred_by)


def refer_to_value(target: str, replaces: Replaces | None = None) -> str:
    """Render a Refer-To value (the API's attended transfer sends one the same way a phone does)."""
    if replaces is None:
        return f"<{target}>"
    return f"<{target}?Replaces={quote(replaces.render(), safe='')}>"


def sipfrag(status: int, reason: str | None = None) -> bytes:
    """The body of a REFER progress NOTIFY: just the status line of the new call (RFC 3515 2.4.5)."""
    return f"SIP/2.0 {status} {reason or REASONS.get(status, 'Unknown')}\r\n".encode()


def refer_notify_headers(refer_cseq: int, final: bool, expires: int = 60) -> list[tuple[str, str]]:
    """Event and Subscription-State of a REFER's implicit subscription (RFC 3515 2.4.4, 2.4.6)."""
    state = "terminated;reason=noresource" if final else f"active;expires={expires}"
    return [
        ("Event", f"refer;id={refer_cseq}"),
        ("Subscription-State", state),
        ("Content-Type", SIPFRAG),
    ]
