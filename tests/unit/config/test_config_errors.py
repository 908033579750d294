"""Each class of config mistake yields an exact `file:line: message` line."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pbx.config import ConfigError, load_config

# The smallest valid config; tests add sections in other files.
BASE = """\
api:
  token: test-token
auth:
  secret: 0123456789abcdef0123
"""

Write = Callable[..., list[str]]


@pytest.fixture
def problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Write:
    """Write files into ./cfg (relative, so messages read `cfg/x.yaml:N: ...`) and load them."""
    monkeypatch.chdir(tmp_path)

    def run(base: str | None = BASE, **files: str) -> list[str]:
        cfg = Path("cfg")
        cfg.mkdir()
        if base is not None:
            (cfg / "base.yaml").write_text(base)
        for name, text in files.items():
            (cfg / f"{name}.yaml").write_text(textwrap.dedent(text))
        with pytest.raises(ConfigError) as info:
            load_config(cfg)
        assert str(info.value).splitlines() == [str(p) for p in info.value.problems]
        return str(info.value).splitlines()

    return run


def test_yaml_syntax_error(problems: Write) -> None:
    text = """\
        users:
          - extension: 201
            name: [Anna
        """
    assert problems(users=text) == [
        # libyaml's wording (the loader uses the C parser when PyYAML has it, as pinned here)
        "cfg/users.yaml:4: invalid YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence at line 3)"
    ]


def test_unknown_key(problems: Write) -> None:
    text = """\
        sip:
          realm: pbx
          lsiten: []
        """
    assert problems(pbx=text) == ["cfg/pbx.yaml:3: sip.lsiten: unknown key"]


def test_unknown_section(problems: Write) -> None:
    assert problems(pbx="usres: []\n") == ["cfg/pbx.yaml:1: usres: unknown section"]


def test_wrong_type(problems: Write) -> None:
    text = """\
        registrar:
          max_contacts: many
        """
    assert problems(pbx=text) == ["cfg/pbx.yaml:2: registrar.max_contacts: 'many' is not a whole number"]


def test_wrong_choice(problems: Write) -> None:
    text = """\
        queues:
          - {name: Q, number: 300, strategy: fastest}
        """
    assert problems(queues=text) == [
        "cfg/queues.yaml:2: queues[0].strategy: 'fastest' is not one of 'ringall', 'longest_idle', "
        "'round_robin', 'fewest_calls', 'least_talk_time', 'random', 'linear' or 'ring_progressive'"
    ]


def test_missing_required_field(problems: Write) -> None:
    text = """\
        users:
          - extension: 201
            pin: 1234
          - name: Nobody
            hotdesk: false
        """
    assert problems(users=text) == ["cfg/users.yaml:4: users[1].extension: required field is missing"]


def test_missing_required_section(problems: Write) -> None:
    assert problems(base=None, pbx="logging: {level: info}\n") == [
        "cfg: api: required section is missing or empty"
    ]


def test_duplicate_extension(problems: Write) -> None:
    text = """\
        users:
          - {extension: 201, pin: 1234}
          - {extension: 202, pin: 1234}
          - {extension: 201, pin: 1234}
        """
    assert problems(users=text) == [
        "cfg/users.yaml:4: users[2].extension: duplicate extension '201' (also users[0])"
    ]


def test_duplicate_key_in_mapping(problems: Write) -> None:
    text = """\
        users:
          - extension: 201
            pin: 1234
            pin: 5678
        """
    assert problems(users=text) == ["cfg/users.yaml:4: duplicate key 'pin' (first at line 3)"]


def test_hotdesk_user_needs_pin(problems: Write) -> None:
    text = """\
        users:
          - {extension: 201, pin: 1234}
          - extension: 204
            name: Daan
        """
    assert problems(users=text) == ["cfg/users.yaml:3: users[1].pin: hotdesk user 204 needs a pin"]


def test_unknown_fixed_user_on_device(problems: Write) -> None:
    text = """\
        devices:
          - username: lift
            password: secret
            hotdesk: false
            user: 999
        """
    assert problems(devices=text) == ["cfg/devices.yaml:5: devices[0].user: unknown user '999'"]


def test_devices_need_auth_secret(problems: Write) -> None:
    text = """\
        api:
          token: test-token
        auth:
          nonce_ttl: 60
        devices:
          - {username: a, password: secret}
        """
    assert problems(base=None, pbx=text) == [
        "cfg/pbx.yaml:4: auth.secret: required when devices are defined (at least 16 characters)"
    ]


QUEUE_USERS = """\
    users:
      - {extension: 201, pin: 1234}
      - {extension: 202, pin: 1234}
    """


def test_unknown_queue_member(problems: Write) -> None:
    text = """\
        queues:
          - name: Algemeen
            number: 300
            members:
              - 201
              - 209
        """
    assert problems(users=QUEUE_USERS, queues=text) == [
        "cfg/queues.yaml:6: queues[0].members[1]: unknown user '209'"
    ]


def test_bad_overflow_target(problems: Write) -> None:
    text = """\
        queues:
          - {name: Algemeen, number: 300, overflow: Urgent}
          - {name: Intercollegiaal, number: 302, overflow: 202}
        """
    assert problems(users=QUEUE_USERS, queues=text) == [
        "cfg/queues.yaml:2: queues[0].overflow: unknown queue or user 'Urgent'"
    ]


def test_queue_number_taken_by_extension(problems: Write) -> None:
    text = """\
        queues:
          - {name: Algemeen, number: 202}
        """
    assert problems(users=QUEUE_USERS, queues=text) == [
        "cfg/queues.yaml:2: queues[0].number: number '202' is already users[1]"
    ]


def test_default_number_not_in_numbers(problems: Write) -> None:
    text = """\
        users:
          - extension: 201
            pin: 1234
            numbers: ["+31534800900", "+31534800201"]
            default_number: "+31534800999"
        """
    assert problems(users=text) == [
        "cfg/users.yaml:5: users[0].default_number: '+31534800999' is not one of this user's numbers"
    ]


def test_section_repeated_in_two_files(problems: Write) -> None:
    text = """\
        # a second api section
        api:
          token: other-token
        """
    assert problems(zz=text) == ["cfg/zz.yaml:2: api: section already defined at cfg/base.yaml:1"]


def test_password_and_ha1_both(problems: Write) -> None:
    text = """\
        devices:
          - username: "201"
            password: secret201
            ha1: 0123456789abcdef0123456789ABCDEF
        """
    assert problems(devices=text) == [
        "cfg/devices.yaml:4: devices[0].ha1: give either password or ha1, not both"
    ]


def test_neither_password_nor_ha1(problems: Write) -> None:
    assert problems(devices="devices:\n  - {username: a}\n") == [
        "cfg/devices.yaml:2: devices[0]: device a needs a password or an ha1"
    ]


def test_bad_cidr(problems: Write) -> None:
    text = """\
        security:
          trusted:
            - 10.0.0.0/8
            - 10.0.0.1/8
        """
    assert problems(pbx=text) == [
        "cfg/pbx.yaml:4: security.trusted[1]: '10.0.0.1/8' is not a CIDR network like '10.0.0.0/8' "
        "(10.0.0.1/8 has host bits set)"
    ]


def test_min_expires_above_max_expires(problems: Write) -> None:
    text = """\
        registrar:
          min_expires: 3600
          max_expires: 60
        """
    assert problems(pbx=text) == [
        "cfg/pbx.yaml:2: registrar.min_expires: min_expires (3600) is greater than max_expires (60)"
    ]


def test_version_in_server_name(problems: Write) -> None:
    assert problems(pbx="sip:\n  server_name: pbx/2.4\n") == [
        "cfg/pbx.yaml:2: sip.server_name: 'pbx/2.4' contains a version number; leave versions out"
    ]


def test_trunk_username_without_password(problems: Write) -> None:
    text = """\
        trunks:
          - {name: carrier, host: sip.example.net, username: acme}
        """
    assert problems(trunks=text) == ["cfg/trunks.yaml:2: trunks[0].username: username given without password"]


def test_trunk_inbound_digest_needs_credentials(problems: Write) -> None:
    text = """\
        trunks:
          - {name: carrier, host: sip.example.net, inbound_digest: true}
        """
    assert problems(trunks=text) == [
        "cfg/trunks.yaml:2: trunks[0].inbound_digest: inbound_digest needs the trunk's username and password"
    ]


def test_trunk_inbound_digest_username_of_a_device(problems: Write) -> None:
    text = """\
        trunks:
          - {name: carrier, host: sip.example.net, username: "201", password: pw, inbound_digest: true}
        """
    devices = """\
        devices:
          - {username: "201", password: secret201}
        """
    assert problems(trunks=text, devices=devices) == [
        "cfg/trunks.yaml:2: trunks[0].username: '201' is also a device: digest could not tell them apart"
    ]


def test_all_problems_reported_across_files(problems: Write) -> None:
    pbx = """\
        sip:
          t1: fast
        logging:
          level: loud
        """
    users = """\
        users:
          - {extension: 20a, pin: 12}
        """
    assert problems(pbx=pbx, users=users) == [
        "cfg/pbx.yaml:2: sip.t1: 'fast' is not a number",
        "cfg/pbx.yaml:4: logging.level: 'loud' is not one of 'debug', 'info', 'warning' or 'error'",
        "cfg/users.yaml:2: users[0].extension: '20a' is not a string of digits",
        "cfg/users.yaml:2: users[0].pin: '12' is not a PIN of 4 to 8 digits",
    ]


def test_top_level_not_a_mapping(problems: Write) -> None:
    assert problems(users="- 201\n- 202\n") == [
        "cfg/users.yaml:1: the file must be a mapping of section names"
    ]


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope")
    assert str(info.value) == f"{tmp_path}/nope: config directory does not exist"


def test_no_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "pbx.yml").write_text(BASE)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: no .yaml files in the config directory"
