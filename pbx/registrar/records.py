"""Bindings as plain JSON-able records, for the store (and back after a restart)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from pbx.registrar.bindings import Binding
from pbx.sip.addr import Addr


def record_key(aor: str, contact_key: str) -> str:
    return f"{aor}\x1f{contact_key}"


# Monotonic times mean nothing after a restart (expires_wall carries the expiry), so they are not
# stored. The other fields are plain values, copied as they are: dataclasses.asdict would
# deep-copy each one, and this runs for every registration.
_FIELDS = tuple(f.name for f in fields(Binding) if f.name not in ("expires_at", "last_qualified"))


def to_record(b: Binding) -> dict[str, Any]:
    d = {name: getattr(b, name) for name in _FIELDS}
    d["source"] = [b.source.transport, b.source.host, b.source.port]
    d["path"] = list(b.path)
    return d


def from_record(d: dict[str, Any]) -> Binding:
    t, h, p = d["source"]
    fields = {k: v for k, v in d.items() if k not in ("source", "path")}
    return Binding(
        **fields,
        source=Addr(t, h, int(p)),
        path=tuple(d.get("path", ())),
        expires_at=0.0,
        last_qualified=None,
    )
