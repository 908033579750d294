"""Typed, frozen configuration: one pydantic model per YAML section (frigate style).

Every model forbids unknown keys. Checks that span several fields or sections do not raise a plain
ValueError, because that would lose *which* field is wrong: they raise a `PydanticCustomError` of
type "pbx" whose context carries `issues`, a tuple of `(loc suffix, message)` pairs relative to
the model that raised. `pbx.config.load` expands those into `file:line: message` problems, and a
`Config` built directly in code is still fully checked.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Annotated, Any, Literal, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

Loc = tuple[str | int, ...]
Issue = tuple[Loc, str]

Strategy = Literal[
    "ringall",
    "longest_idle",
    "round_robin",
    "fewest_calls",
    "least_talk_time",
    "random",
    "linear",
    "ring_progressive",
]
STRATEGIES: tuple[str, ...] = get_args(Strategy)  # for registries that need the names
Transport = Literal["udp", "tcp"]
Role = Literal["agent", "supervisor", "admin"]
LogLevel = Literal["debug", "info", "warning", "error"]
Network = IPv4Network | IPv6Network


def raise_issues(issues: Sequence[Issue]) -> None:
    """Raise all issues at once as one pydantic error (load.py splits them up again)."""
    if issues:
        summary = "; ".join(".".join(map(str, loc)) + ": " + msg if loc else msg for loc, msg in issues)
        raise PydanticCustomError("pbx", "{summary}", {"summary": summary, "issues": tuple(issues)})


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    """A string check with a plain-words message instead of pydantic's regex dump."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _network(value: Any) -> Network:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a CIDR network like '10.0.0.0/8' (write it as a string)")
    try:
        return ip_network(value)  # strict: host bits set is a mistake, not a shorthand
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a CIDR network like '10.0.0.0/8' ({exc})") from None


def _ip(value: str) -> str:
    try:
        ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (like 127.0.0.1 or ::1)") from None
    return value


def _no_version(value: str) -> str:
    # RFC 3261 section 26.3.1: a version in Server/User-Agent helps attackers pick exploits.
    if re.search(r"\d+\.\d+", value):
        raise ValueError(f"{value!r} contains a version number; leave versions out")
    return value


Digits = Annotated[str, AfterValidator(_matching(r"[0-9]+", "a string of digits"))]
Pin = Annotated[str, AfterValidator(_matching(r"[0-9]{4,8}", "a PIN of 4 to 8 digits"))]
PhoneNumber = Annotated[str, AfterValidator(_matching(r"\+?[0-9]+", "a phone number like +31534800900"))]
Prefix = Annotated[str, AfterValidator(_matching(r"\+?[0-9]*", "a dial prefix like 0 or +31"))]
Colour = Annotated[str, AfterValidator(_matching(r"#[0-9a-fA-F]{6}", "a colour like #1e90ff"))]
Ha1 = Annotated[str, AfterValidator(_matching(r"[0-9a-fA-F]{32}", "an HA1 of 32 hex characters"))]
Cidr = Annotated[Network, PlainValidator(_network)]
IpAddress = Annotated[str, AfterValidator(_ip)]
Port = Annotated[int, Field(ge=0, le=65535)]  # 0 = pick a free port (tests)
Name = Annotated[str, Field(min_length=1)]


class PbxModel(BaseModel):
    # Numbers become strings where a string is wanted (`extension: 201`); the loader keeps
    # leading zeros and '+' as text, so nothing is lost by this.
    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)


class Node(PbxModel):
    id: Name = "node1"


class Listen(PbxModel):
    transport: Transport
    host: IpAddress = "127.0.0.1"
    port: Port = 5060


class Sip(PbxModel):
    listen: tuple[Listen, ...] = (Listen(transport="udp"), Listen(transport="tcp"))
    realm: Name = "pbx"
    allowed_destinations: tuple[Cidr, ...] = (ip_network("0.0.0.0/0"), ip_network("::/0"))
    max_message_bytes: int = Field(65535, ge=1024)
    max_headers: int = Field(100, ge=10)
    t1: float = Field(0.5, gt=0)
    t2: float = Field(4.0, gt=0)
    t4: float = Field(5.0, gt=0)
    server_name: Annotated[Name, AfterValidator(_no_version)] = "pbx"


class Auth(PbxModel):
    secret: str | None = Field(None, min_length=16)  # signs nonces; required once devices exist
    nonce_ttl: int = Field(300, ge=1)
    sha256: bool = False
    qop: bool = True


class Registrar(PbxModel):
    min_expires: int = Field(60, ge=1)
    max_expires: int = Field(7200, ge=1)
    default_expires: int = Field(3600, ge=1)
    max_contacts: int = Field(5, ge=1)
    qualify_interval: int = Field(60, ge=0)  # 0 = no OPTIONS pings
    qualify_timeout: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _expiry_order(self) -> Self:
        issues: list[Issue] = []
        if self.min_expires > self.max_expires:
            issues.append(
                (
                    ("min_expires",),
                    f"min_expires ({self.min_expires}) is greater than max_expires ({self.max_expires})",
                )
            )
        elif not self.min_expires <= self.default_expires <= self.max_expires:
            issues.append(
                (
                    ("default_expires",),
                    f"default_expires ({self.default_expires}) must be between min_expires "
                    f"({self.min_expires}) and max_expires ({self.max_expires})",
                )
            )
        raise_issues(issues)
        return self


class Security(PbxModel):
    auth_failures_before_ban: int = Field(20, ge=1)
    failure_window: int = Field(60, ge=1)
    requests_per_second: int = Field(500, ge=0)  # per source address; 0 = unlimited
    ban_seconds: int = Field(600, ge=1)
    trusted: tuple[Cidr, ...] = ()  # never banned


class Api(PbxModel):
    host: IpAddress = "127.0.0.1"
    port: Port = 8080
    token: str = Field(min_length=8)


class Logging(PbxModel):
    level: LogLevel = "info"


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone like Europe/Amsterdam") from None
    return value


TimeOfDay = Annotated[str, AfterValidator(_matching(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]", "a time like 03:00"))]


class Hotdesk(PbxModel):
    """Hotdesking (pbx/hotdesk, docs/hotdesk.md): PIN lockout and the optional automatic logouts."""

    max_failures: int = Field(5, ge=1)  # wrong PINs per user, and per source address, before a lockout
    lockout_seconds: int = Field(300, ge=1)
    auto_logout: TimeOfDay | None = None  # everyone is logged out at this time of day
    timezone: Annotated[str, AfterValidator(_time_zone)] | None = None  # auto_logout's; default the host's
    unregistered_logout: int | None = Field(None, ge=60)  # seconds a session's device may stay unregistered
    # A device without `user` whose username is a user's extension is that user's own phone.
    owner_by_name: bool = True
    # What a phone whose user changed is sent (docs/hotdesk.md): an unsolicited NOTIFY
    # `Event: check-sync;reboot=false` (desk phones re-read their configuration), or nothing.
    notify: Literal["check-sync", "none"] = "check-sync"


class Media(PbxModel):
    """RTP the PBX terminates itself (announcements, IVR, music on hold)."""

    rtp_port_min: int = Field(20000, ge=1024, le=65534)
    rtp_port_max: int = Field(20999, ge=1025, le=65535)
    language: Literal["nl", "en"] = "nl"  # prompts for callers whose user or queue names none
    sounds: str = "sounds"  # prompt directory: <sounds>/<lang>/<name>.ul|.al (relative: to the repo)
    moh_on_hold: bool = True  # the held party hears the PBX's music (else hold is relayed as is)
    # The address the PBX's RTP sockets bind to and its SDP names (c=). Default: the SIP listen
    # address of the call's transport; required when SIP listens on a wildcard (0.0.0.0, ::),
    # since an SDP cannot tell a phone to send its audio to "any address".
    address: IpAddress | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.rtp_port_max - self.rtp_port_min < 3:
            raise_issues([(("rtp_port_max",), "the RTP port range must hold at least two even ports")])
        return self


class User(PbxModel):
    extension: Digits
    name: str = ""
    pin: Pin | None = None
    hotdesk: bool = True
    numbers: tuple[PhoneNumber, ...] = ()  # numbers this user may present on outside calls
    default_number: PhoneNumber | None = None
    groups: tuple[str, ...] = ()
    role: Role = "agent"
    voicemail: bool = False
    recording: bool = False
    context: Name = "default"
    language: Literal["nl", "en"] | None = None  # prompts for this user (hotdesk); None: media.language

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        issues: list[Issue] = []
        if self.hotdesk and self.pin is None:
            issues.append((("pin",), f"hotdesk user {self.extension} needs a pin"))
        if self.default_number is not None and self.default_number not in self.numbers:
            issues.append((("default_number",), f"'{self.default_number}' is not one of this user's numbers"))
        raise_issues(issues)
        return self


class Device(PbxModel):
    username: Annotated[str, AfterValidator(_matching(r"[^\s@:;]+", "a SIP user name"))]
    password: Name | None = None
    ha1: Ha1 | None = None  # md5(username:realm:password), for those who keep passwords elsewhere
    hotdesk: bool = True
    user: Digits | None = None  # a fixed user: always logged in here
    context: Name | None = None
    notify: bool = True  # false: never send this phone hotdesk.notify (one that mishandles NOTIFY)

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if self.password is not None and self.ha1 is not None:
            raise_issues([(("ha1",), "give either password or ha1, not both")])
        if self.password is None and self.ha1 is None:
            raise_issues([((), f"device {self.username} needs a password or an ha1")])
        return self


class Queue(PbxModel):
    name: Name
    number: Digits
    label: str = ""
    colour: Colour = "#808080"
    groups: tuple[str, ...] = ()
    strategy: Strategy = "longest_idle"
    urgent: bool = False
    priority: int = 0
    wrapup: int = Field(0, ge=0)
    ring_timeout: int = Field(20, ge=1)
    max_wait: int = Field(300, ge=1)
    overflow: str | None = None  # a queue name or a user extension
    members: tuple[Digits, ...] = ()
    # ACD details (docs/acd.md); the defaults behave like Asterisk app_queue's.
    penalties: dict[Digits, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)  # member -> level
    retry_delay: int = Field(5, ge=0)  # seconds a caller rests after an unanswered offer round
    max_length: int = Field(0, ge=0)  # waiting callers at most; 0 = unlimited
    join_when_empty: bool = True  # may a caller join while no logged-in agent has a phone?
    leave_when_empty: bool = False  # do waiting callers overflow when the last such agent leaves?
    announce_frequency: int = Field(0, ge=0)  # seconds between position announcements; 0 = none
    service_level: int = Field(20, ge=1)  # answered within this many seconds counts as in service level
    autopause_after: int = Field(0, ge=0)  # pause an agent after this many missed offers in a row; 0 = never
    progressive_step: int = Field(10, ge=1)  # ring_progressive: seconds before one more agent rings
    music: str | None = None  # what waiting callers hear (a media name); the media layer's default
    language: Literal["nl", "en"] | None = None  # of the announcements; None: media.language
    callback_key: Literal["1"] | None = None  # "press 1 to be called back" while waiting (OP 3.6)
    requeue_keeps_place: bool = True  # a call requeued here keeps its first arrival time (VC 2.1.2)

    @model_validator(mode="after")
    def _penalties_of_members(self) -> Self:
        members = set(self.members)
        raise_issues(
            [
                (("penalties", ext), f"'{ext}' is not a member of this queue")
                for ext in self.penalties
                if ext not in members
            ]
        )
        return self


class Code(PbxModel):
    """A pause (status) reason or a disposition (transaction) code: dialled as *46*<code> / *48*<code>."""

    code: Digits
    name: Name


class Acd(PbxModel):
    pause_reasons: tuple[Code, ...] = ()
    dispositions: tuple[Code, ...] = ()
    autopause_reason: Digits | None = None  # pause reason given by autopause; must be a pause_reasons code
    wrapup_after_outbound: int = Field(0, ge=0)  # seconds; only for agents logged in to a queue (OP 2.5)

    @model_validator(mode="after")
    def _codes(self) -> Self:
        issues = _unique([c.code for c in self.pause_reasons], "pause_reasons", "code", "code")
        issues += _unique([c.code for c in self.dispositions], "dispositions", "code", "code")
        if self.autopause_reason is not None and self.autopause_reason not in {
            c.code for c in self.pause_reasons
        }:
            issues.append((("autopause_reason",), f"'{self.autopause_reason}' is not a pause_reasons code"))
        raise_issues(issues)
        return self


# pydantic warns that `register` shadows ABCMeta.register, a method of the *class*; instances
# still read the field, so the spec's key name is kept.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class Trunk(PbxModel):
        name: Name
        host: Name
        port: Port = 5060
        transport: Transport = "udp"
        username: Name | None = None
        password: Name | None = None
        register: bool = False
        register_expires: int = Field(default=600, ge=60, le=86400)
        match: tuple[Cidr, ...] = ()  # source addresses it calls in from
        # also recognise its INVITEs by digest: the carrier answers our 407 with username/password
        inbound_digest: bool = False
        prefixes: tuple[Prefix, ...] = ()  # dialled numbers starting with these go out here
        pai: bool = True  # also present the caller's number in P-Asserted-Identity (RFC 3325)
        default_number: PhoneNumber | None = (
            None  # presented when the caller has no number (112 from a phone nobody is logged in to)
        )

        @model_validator(mode="after")
        def _credentials_pair(self) -> Self:
            if (self.username is None) != (self.password is None):
                given = "username" if self.username is not None else "password"
                missing = "password" if self.username is not None else "username"
                raise_issues([((given,), f"{given} given without {missing}")])
            if self.inbound_digest and self.username is None:
                raise_issues(
                    [(("inbound_digest",), "inbound_digest needs the trunk's username and password")]
                )
            return self


def _unique(items: Sequence[str], section: str, field: str, what: str) -> list[Issue]:
    """Flag every repeat (at the second occurrence) of a value that must be unique."""
    first: dict[str, int] = {}
    issues: list[Issue] = []
    for i, value in enumerate(items):
        if value in first:
            message = f"duplicate {what} '{value}' (also {section}[{first[value]}])"
            issues.append(((section, i, field), message))
        else:
            first[value] = i
    return issues


class Config(PbxModel):
    """The whole validated configuration; build it with `pbx.config.load_config`."""

    node: Node = Node()
    sip: Sip = Sip()
    auth: Auth = Auth()
    registrar: Registrar = Registrar()
    security: Security = Security()
    api: Api
    logging: Logging = Logging()
    hotdesk: Hotdesk = Hotdesk()
    media: Media = Media()
    emergency_numbers: tuple[Digits, ...] = ("112",)
    users: tuple[User, ...] = ()
    devices: tuple[Device, ...] = ()
    queues: tuple[Queue, ...] = ()
    acd: Acd = Acd()
    trunks: tuple[Trunk, ...] = ()

    # Lookup tables built once; private attributes may be set on a frozen model.
    _users: dict[str, User] = PrivateAttr(default_factory=dict)
    _devices: dict[str, Device] = PrivateAttr(default_factory=dict)
    _queues: dict[str, Queue] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._users = {u.extension: u for u in self.users}
        self._devices = {d.username: d for d in self.devices}
        self._queues = {q.name: q for q in self.queues}

    def user(self, extension: str) -> User | None:
        return self._users.get(extension)

    def device(self, username: str) -> Device | None:
        return self._devices.get(username)

    def queue(self, name: str) -> Queue | None:
        return self._queues.get(name)

    def trunk(self, name: str) -> Trunk | None:
        return next((t for t in self.trunks if t.name == name), None)

    @model_validator(mode="after")
    def _cross_references(self) -> Self:
        raise_issues(cross_references(self))
        return self


def cross_references(cfg: Config) -> list[Issue]:
    """Checks between sections, each located at the value that refers (or repeats)."""
    extensions = [u.extension for u in cfg.users]
    issues = _unique(extensions, "users", "extension", "extension")
    issues += _unique([d.username for d in cfg.devices], "devices", "username", "username")
    issues += _unique([q.name for q in cfg.queues], "queues", "name", "queue name")
    issues += _unique([t.name for t in cfg.trunks], "trunks", "name", "trunk name")
    known_users = set(extensions)
    queue_names = {q.name for q in cfg.queues}
    device_names = {d.username for d in cfg.devices}
    for i, t in enumerate(cfg.trunks):
        if t.inbound_digest and t.username in device_names:
            issues.append(
                (
                    ("trunks", i, "username"),
                    f"'{t.username}' is also a device: digest could not tell them apart",
                )
            )

    for i, ext in enumerate(extensions):
        if ext in cfg.emergency_numbers:
            issues.append((("users", i, "extension"), f"extension '{ext}' is an emergency number"))

    # A dialled number must reach one thing: extensions and queue numbers share one namespace.
    ext_index = {ext: i for i, ext in enumerate(extensions)}
    queue_number: dict[str, int] = {}
    for i, q in enumerate(cfg.queues):
        if q.number in ext_index:
            issues.append(
                (("queues", i, "number"), f"number '{q.number}' is already users[{ext_index[q.number]}]")
            )
        elif q.number in queue_number:
            issues.append(
                (("queues", i, "number"), f"number '{q.number}' is already queues[{queue_number[q.number]}]")
            )
        elif q.number in cfg.emergency_numbers:
            issues.append((("queues", i, "number"), f"number '{q.number}' is an emergency number"))
        queue_number.setdefault(q.number, i)

        for k, member in enumerate(q.members):
            if member not in known_users:
                issues.append((("queues", i, "members", k), f"unknown user '{member}'"))
        if q.overflow is not None:
            if q.overflow == q.name:
                issues.append((("queues", i, "overflow"), "a queue cannot overflow to itself"))
            elif q.overflow not in queue_names and q.overflow not in known_users:
                issues.append((("queues", i, "overflow"), f"unknown queue or user '{q.overflow}'"))

    for i, d in enumerate(cfg.devices):
        if d.user is not None and d.user not in known_users:
            issues.append((("devices", i, "user"), f"unknown user '{d.user}'"))
    if cfg.media.address is not None and ip_address(cfg.media.address).is_unspecified:
        issues.append((("media", "address"), f"'{cfg.media.address}' is no address phones can send RTP to"))
    elif cfg.media.address is None:
        for i, listen in enumerate(cfg.sip.listen):
            if ip_address(listen.host).is_unspecified:
                message = f"listening on {listen.host} needs media.address (the address phones send RTP to)"
                issues.append((("sip", "listen", i, "host"), message))
    if cfg.devices and cfg.auth.secret is None:
        issues.append((("auth", "secret"), "required when devices are defined (at least 16 characters)"))
    return issues
