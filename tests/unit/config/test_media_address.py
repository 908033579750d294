"""`media.address`: where the PBX's RTP is bound and what its SDP names; a wildcard SIP listen
address without it is a config error at the listen entry (file:line)."""

from __future__ import annotations

from pathlib import Path

from test_config_errors import BASE, Write, problems

from pbx.config import load_config

__all__ = ["problems"]  # the fixture, shared with the config error tests

WILDCARD = """\
sip:
  listen:
    - {transport: udp, host: 127.0.0.1, port: 5060}
    - {transport: tcp, host: 0.0.0.0, port: 5060}
"""


def test_a_wildcard_listen_needs_media_address(problems: Write) -> None:
    assert problems(sip=WILDCARD) == [
        "cfg/sip.yaml:4: sip.listen[1].host: listening on 0.0.0.0 needs media.address "
        "(the address phones send RTP to)"
    ]


def test_media_address_cannot_be_a_wildcard_or_a_name(problems: Write) -> None:
    assert problems(media="media:\n  address: '::'\n") == [
        "cfg/media.yaml:2: media.address: '::' is no address phones can send RTP to"
    ]


def test_media_address_is_no_host_name(problems: Write) -> None:
    assert problems(media="media:\n  address: pbx.example\n") == [
        "cfg/media.yaml:2: media.address: 'pbx.example' is not an IP address (like 127.0.0.1 or ::1)"
    ]


def test_a_wildcard_listen_with_media_address_loads(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "base.yaml").write_text(BASE)
    (cfg / "sip.yaml").write_text(WILDCARD + "media:\n  address: 127.0.0.2\n")
    assert load_config(cfg).media.address == "127.0.0.2"
