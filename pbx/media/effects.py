"""What the call core asks of the media shell, and what the shell tells it back (frozen data)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MediaOpen:
    """Open an RTP session: receive on local_host:local_port (RTCP on +1), send to remote."""

    session: str
    local_host: str
    local_port: int
    remote_host: str
    remote_port: int
    payload_type: int  # 0 PCMU, 8 PCMA
    dtmf_pt: int | None
    language: str


@dataclass(frozen=True, slots=True)
class MediaUpdate:
    """The peer moved (re-INVITE): new remote address or codec; playback goes on."""

    session: str
    remote_host: str
    remote_port: int
    payload_type: int
    dtmf_pt: int | None


@dataclass(frozen=True, slots=True)
class MediaPlay:
    """Queue prompts (names in the prompt library, or `moh:<name>` for music) on a session."""

    session: str
    play_id: int
    prompts: tuple[str, ...]
    loop: bool = False


@dataclass(frozen=True, slots=True)
class MediaStopPlay:
    session: str


@dataclass(frozen=True, slots=True)
class MediaClose:
    session: str


# --- events from the shell ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlayDone:
    session: str
    play_id: int
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class DigitReceived:
    session: str
    digit: str
    method: str  # rfc4733, info, inband


@dataclass(frozen=True, slots=True)
class MediaFailed:
    session: str
    reason: str


MediaEffect = MediaOpen | MediaUpdate | MediaPlay | MediaStopPlay | MediaClose
MediaEvent = PlayDone | DigitReceived | MediaFailed
