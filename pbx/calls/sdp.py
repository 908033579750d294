"""The little SDP the call core writes itself (everything else passes through untouched)."""

from __future__ import annotations

STATIC_PT = frozenset(str(n) for n in range(0, 35))


def inactive_answer(offer: bytes, session_id: int) -> bytes:
    """An RFC 3264 answer that accepts every offered stream but puts it on hold (`a=inactive`,
    discard port, unspecified address): a phone that answered a click-to-dial call waits in
    silence, with its media stopped, until the other party's SDP arrives in a re-INVITE."""
    lines = offer.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    rtpmaps = {
        ln.split()[0][len("a=rtpmap:") :]: ln for ln in lines if ln.startswith("a=rtpmap:") and " " in ln
    }
    out = [
        "v=0",
        f"o=pbx {session_id} 1 IN IP4 0.0.0.0",
        "s=-",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
    ]
    for ln in lines:
        if not ln.startswith("m="):
            continue
        parts = ln[2:].split()
        if len(parts) < 4:
            continue
        media, proto, fmt = parts[0], parts[2], parts[3]
        out.append(f"m={media} 9 {proto} {fmt}")
        if fmt in rtpmaps:
            out.append(rtpmaps[fmt])
        out.append("a=inactive")
    return ("\r\n".join(out) + "\r\n").encode()
