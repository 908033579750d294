"""The demo config loads, values are typed as a human expects, and Config's helpers work."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pydantic
import pytest

from pbx.config import Api, Config, Device, User, load_config

REPO = Path(__file__).resolve().parents[3]


def test_demo_config_loads() -> None:
    cfg = load_config(REPO / "config")
    assert [u.extension for u in cfg.users] == ["201", "202", "203", "204", "205"]
    assert {u.role for u in cfg.users[:4]} == {"agent"}
    supervisor = cfg.user("205")
    assert supervisor is not None and supervisor.role == "supervisor"
    assert all(u.pin for u in cfg.users)
    for user in cfg.users:  # each user has a device of the same SIP user name, with a password
        device = cfg.device(user.extension)
        assert device is not None and device.password
    assert [(q.name, q.number, q.urgent) for q in cfg.queues] == [
        ("Algemeen", "300", False),
        ("Urgent", "301", True),
        ("Intercollegiaal", "302", False),
    ]
    assert all(q.members == ("201", "202", "203", "204", "205") for q in cfg.queues)
    (trunk,) = cfg.trunks
    assert (trunk.host, trunk.port, trunk.transport, trunk.prefixes) == ("127.0.0.1", 5090, "udp", ("0",))
    assert {(lst.transport, lst.host, lst.port) for lst in cfg.sip.listen} == {
        ("udp", "127.0.0.1", 5060),
        ("tcp", "127.0.0.1", 5060),
    }
    assert cfg.sip.allowed_destinations == (ip_network("127.0.0.0/8"), ip_network("::1/128"))
    assert (cfg.api.host, cfg.api.port, cfg.api.token) == ("127.0.0.1", 8080, "demo-token-change-me")
    assert cfg.emergency_numbers == ("112",)


def test_defaults(tmp_path: Path) -> None:
    (tmp_path / "pbx.yaml").write_text("api: {token: test-token}\nusers:\n")  # empty section = defaults
    cfg = load_config(tmp_path)
    assert cfg.node.id == "node1"
    assert [(lst.transport, lst.host, lst.port) for lst in cfg.sip.listen] == [
        ("udp", "127.0.0.1", 5060),
        ("tcp", "127.0.0.1", 5060),
    ]
    assert (cfg.sip.t1, cfg.sip.t2, cfg.sip.t4, cfg.sip.server_name) == (0.5, 4.0, 5.0, "pbx")
    assert (cfg.registrar.min_expires, cfg.registrar.default_expires, cfg.registrar.max_expires) == (
        60,
        3600,
        7200,
    )
    assert cfg.security.requests_per_second == 500
    assert cfg.logging.level == "info"
    assert cfg.users == () and cfg.user("201") is None and cfg.device("201") is None


def test_numbers_stay_text(tmp_path: Path) -> None:
    """Unquoted PINs with a leading zero and '+' numbers must not become (octal) integers."""
    (tmp_path / "pbx.yaml").write_text(
        "api: {token: test-token}\n"
        "sip:\n  listen: [{transport: udp, host: '::1', port: 5060}]\n"
        "users:\n  - {extension: 0201, pin: 0123, numbers: [+31534800900, 0534800900],\n"
        "      default_number: 0534800900}\n"
    )
    cfg = load_config(tmp_path)
    user = cfg.user("0201")
    assert user is not None
    assert user.pin == "0123"
    assert user.numbers == ("+31534800900", "0534800900")
    assert cfg.sip.listen[0].host == "::1"


def test_config_is_frozen_and_checked_in_code() -> None:
    cfg = Config(api=Api(token="test-token"))
    with pytest.raises(pydantic.ValidationError):
        cfg.api = Api(token="other-token")  # type: ignore[misc]
    user = User(extension="201", pin="1234")
    device = Device(username="a", password="p", user="999")
    with pytest.raises(pydantic.ValidationError, match=r"devices\.0\.user: unknown user '999'"):
        Config(api=Api(token="test-token"), auth={"secret": "x" * 16}, users=(user,), devices=(device,))
