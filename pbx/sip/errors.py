"""Errors raised by the sans-IO SIP layer.

A malformed message from the network raises `SipParseError`; it carries the status code the
server should answer with (RFC 3261 section 21) so the stack can build the response, or drop the
message when it cannot be answered (a response, or a request too broken to route a reply).
"""

from __future__ import annotations


class SipParseError(ValueError):
    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint

    @property
    def reason(self) -> str:
        return str(self)
