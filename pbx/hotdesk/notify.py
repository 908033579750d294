# How this works
# --------------
# When a device's effective user changes (a login, a logout, a takeover by a login elsewhere, an
# identity switch, an admin logout, a reload), the hotdesk core says so with NotifyDevice. Desk
# phones cannot know by themselves that the PBX changed who they are, so the PBX sends every
# registered contact of that device an unsolicited NOTIFY (out of dialog, no subscription):
#
#   NOTIFY <contact URI> SIP/2.0
#   Event: check-sync;reboot=false
#   Subscription-State: terminated;reason=noresource
#   X-PBX-Hotdesk-User: <extension, or empty for nobody>
#
# `check-sync` is what Asterisk (`sip notify` / `pjsip send notify`) and FreeSWITCH admins send
# to make Yealink, Polycom, Snom, Cisco SPA and Grandstream phones re-read their configuration
# (`reboot=false`: re-provision without a restart), which is how a provisioned phone learns its
# new line label and identity. RFC 6665 requires Subscription-State in a NOTIFY; `terminated`
# tells a strict phone that no subscription is implied. A phone that answers 489 (Bad Event),
# 405, 481 or nothing changes nothing here: the NOTIFY is a courtesy, the PBX's own state (API,
# presence, routing) already changed. Which devices and whether: `should_notify`; the PbxCore
# sends the request through an ordinary non-INVITE client transaction (RFC 3261 17.1.2).
"""Hotdesk notifications: which phones get an unsolicited NOTIFY, and what it says."""

from __future__ import annotations

from pbx.config.models import Config
from pbx.sip.message import Headers, Request

EVENT = "check-sync;reboot=false"
USER_HEADER = "x-pbx-hotdesk-user"


def should_notify(config: Config, device: str) -> bool:
    """Send `device` a NOTIFY when its user changes? The global switch and the device's own."""
    if config.hotdesk.notify == "none":
        return False
    d = config.device(device)
    return d is not None and d.notify


def check_sync(
    uri: str, to: str, user: str | None, via: str, from_uri: str, tag: str, call_id: str, server: str
) -> Request:
    """The NOTIFY for one contact: `uri` is the contact's URI (the Request-URI), `to` the binding's
    address of record, `via` our Via value (transport, address, branch)."""
    h = Headers()
    h.add("via", via)
    h.add("max-forwards", "70")
    h.add("from", f"<{from_uri}>;tag={tag}")
    h.add("to", f"<{to}>")
    h.add("call-id", call_id)
    h.add("cseq", "1 NOTIFY")
    h.add("contact", f"<{from_uri}>")
    h.add("event", EVENT)
    h.add("subscription-state", "terminated;reason=noresource")
    h.add(USER_HEADER, user or "")
    h.add("user-agent", server)
    return Request("NOTIFY", uri, h)
