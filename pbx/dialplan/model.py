"""The dialplan's YAML schema (pydantic, frozen, extra="forbid") and the actions a route resolves to.

A dialplan file maps context names to ordered lists of rules. A rule has a `match` (exactly one of
exact / prefix / pattern / regex), optional `when` conditions (all must hold) and exactly one
action. Checks that need the system config (unknown user, queue, trunk or context) run in the
rule's after-validator when `pbx.dialplan.load` passes a `RuleContext` as pydantic's validation
context; like pbx.config, they raise `raise_issues` errors located at the offending key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo
from pydantic import model_validator as _model_validator

from pbx.config.models import Config, Issue, raise_issues
from pbx.dialplan.patterns import (
    BUILTIN_VARIABLES,
    Exact,
    Matcher,
    Pattern,
    PatternError,
    Prefix,
    Regex,
    check_template,
)

# --- what a route resolves to (the call layer acts on these) --------------------------------------


@dataclass(frozen=True)
class RingUser:
    extension: str


@dataclass(frozen=True)
class RingDevice:
    username: str


@dataclass(frozen=True)
class RingQueue:
    name: str


@dataclass(frozen=True)
class Feature:
    name: str  # hotdesk, queue_login, pause, wrapup, disposition, pickup (SPEC section 7)
    args: tuple[str, ...] = ()  # *35*203*2033 -> ("203", "2033")


@dataclass(frozen=True)
class Announcement:
    name: str


@dataclass(frozen=True)
class Ivr:
    prompt: str
    options: tuple[tuple[str, str], ...]  # (digit, context to go to)


@dataclass(frozen=True)
class PlayPrompts:
    """Play prompts, then continue in `next` (the dialled number is routed there) or hang up."""

    prompts: tuple[str, ...]
    interruptible: bool
    next: str | None


@dataclass(frozen=True)
class NumberEntry:
    """Ask for a number (VC 4.3), validate it, keep it with the call, then go to `next`."""

    prompt: str
    min_digits: int
    max_digits: int
    validator: str  # none, luhn, elfproef
    pattern: str | None
    next: str | None  # context to continue in (the dialled number is routed there)


@dataclass(frozen=True)
class Collect:
    """Collect digits (Asterisk `Read()`): prompt before each try, store the digits in `variable`,
    then route them as the dialled number in `next`; after the last failed try go to `failed`
    (the original dialled number is routed there) or say goodbye and hang up."""

    prompt: str
    min_digits: int
    max_digits: int
    first_timeout: float  # seconds from the end of the prompt to the first key
    inter_timeout: float  # seconds between keys
    terminator: str  # "#", "*" or "" (none)
    tries: int
    retry_prompt: str | None  # played after a failed try, before the prompt again
    variable: str
    next: str
    failed: str | None


@dataclass(frozen=True)
class Say:
    """Speak a value (`digits`: key by key; `number`: as a number), then continue or hang up."""

    how: Literal["digits", "number"]
    value: str  # variables already filled in
    interruptible: bool
    next: str | None


@dataclass(frozen=True)
class ToTrunk:
    trunk: str
    number: str  # after rewriting


@dataclass(frozen=True)
class Reject:
    status: int
    reason: str


Action = (
    RingUser
    | RingDevice
    | RingQueue
    | Feature
    | Announcement
    | Ivr
    | NumberEntry
    | PlayPrompts
    | Collect
    | Say
    | ToTrunk
    | Reject
)

FeatureName = Literal["hotdesk", "queue_login", "pause", "wrapup", "disposition", "pickup", "cherry_pick"]
# (fewest, most) arguments after the code: *35*<ext>*<pin>, *45*<queue>, *46*<reason>, *48*<code>, *8<ext>
FEATURE_ARGS: dict[str, tuple[int, int]] = {
    "hotdesk": (0, 2),
    "queue_login": (0, 1),
    "pause": (0, 1),
    "wrapup": (0, 0),
    "disposition": (1, 1),
    "pickup": (0, 1),
    "cherry_pick": (1, 1),  # *9*<queue number>: take that queue's longest-waiting caller
}
assert set(FEATURE_ARGS) == set(get_args(FeatureName))

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    480: "Temporarily Unavailable",
    484: "Address Incomplete",
    486: "Busy Here",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
}

# --- condition values, parsed once at load time ----------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class TimeRange:
    text: str
    start: int  # minutes after midnight, inclusive
    end: int  # exclusive; end < start wraps past midnight (22:00-06:00)

    def holds(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


@dataclass(frozen=True)
class DaySpan:
    text: str
    days: frozenset[int]


@dataclass(frozen=True)
class DateSpan:
    text: str
    first: date
    last: date  # inclusive


_TIME = re.compile(r"([01]?[0-9]|2[0-4]):([0-5][0-9])")


def _time_range(value: Any) -> TimeRange:
    bad = ValueError(f"{value!r} is not a time range like 08:00-18:00")
    if not isinstance(value, str) or value.count("-") != 1:
        raise bad
    minutes = []
    for part in value.split("-"):
        m = _TIME.fullmatch(part.strip())
        if m is None or (m.group(1) == "24" and m.group(2) != "00"):
            raise bad
        minutes.append(int(m.group(1)) * 60 + int(m.group(2)))
    start, end = minutes
    if start == 24 * 60:
        raise bad
    if start == end:
        raise ValueError(f"{value!r} is an empty time range")
    return TimeRange(value, start, end)


def _day_span(value: Any) -> DaySpan:
    text = str(value).strip().lower()
    names = {**{d: i for i, d in enumerate(WEEKDAYS)}, **{d.lower(): i for i, d in enumerate(DAY_NAMES)}}
    parts = [p.strip() for p in text.split("-")]
    if len(parts) > 2 or any(p not in names for p in parts):
        raise ValueError(f"{value!r} is not a weekday ({', '.join(WEEKDAYS)}) or a range like mon-fri")
    first, last = names[parts[0]], names[parts[-1]]
    if last < first:
        raise ValueError(f"{value!r} runs backwards (write mon-fri, or list the days)")
    return DaySpan(text, frozenset(range(first, last + 1)))


def _date_span(value: Any) -> DateSpan:
    if isinstance(value, date):  # built in code; the loader keeps YAML dates as text
        return DateSpan(value.isoformat(), value, value)
    text = str(value)
    parts = text.split("..")
    try:
        if len(parts) > 2:
            raise ValueError
        first, last = date.fromisoformat(parts[0].strip()), date.fromisoformat(parts[-1].strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date like 2026-12-25 or a range like 2026-12-24..2026-12-26"
        ) from None
    if last < first:
        raise ValueError(f"{value!r} ends before it starts")
    return DateSpan(text, first, last)


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known time zone (like Europe/Amsterdam)") from None
    return value


def _matcher_text(kind: type[Pattern] | type[Regex]) -> Any:
    def check(value: str) -> str:
        try:
            kind.compile(value)
        except PatternError as exc:
            raise ValueError(str(exc)) from None
        return value

    return AfterValidator(check)


def _text(pattern: str, what: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


Dialled = Annotated[str, _text(r"\S+", "a dialled string (no spaces)")]
Name = Annotated[str, Field(min_length=1)]


class DialplanModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)


class Match(DialplanModel):
    exact: Dialled | None = None
    prefix: Annotated[str, _text(r"\S*", "a dial prefix (no spaces)")] | None = None  # "" matches all
    pattern: Annotated[str, _matcher_text(Pattern)] | None = None
    regex: Annotated[str, _matcher_text(Regex)] | None = None

    @_model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k in ("exact", "prefix", "pattern", "regex") if getattr(self, k) is not None]
        if not given:
            raise_issues([((), "give one of exact, prefix, pattern or regex")])
        if len(given) > 1:
            raise_issues([((given[1],), f"give one of exact, prefix, pattern or regex (also {given[0]})")])
        return self

    def matcher(self) -> Matcher:
        if self.exact is not None:
            return Exact(self.exact)
        if self.prefix is not None:
            return Prefix(self.prefix)
        if self.pattern is not None:
            return Pattern.compile(self.pattern)
        assert self.regex is not None
        return Regex.compile(self.regex)

    def groups(self) -> int:
        return re.compile(self.regex).groups if self.regex is not None else 0


class When(DialplanModel):
    time: Annotated[TimeRange, PlainValidator(_time_range)] | None = None
    weekdays: tuple[Annotated[DaySpan, PlainValidator(_day_span)], ...] | None = None
    dates: tuple[Annotated[DateSpan, PlainValidator(_date_span)], ...] | None = None
    timezone: Annotated[str, AfterValidator(_timezone)] | None = None  # default: the wall clock's zone


class TrunkSpec(DialplanModel):
    name: Name
    strip: int = Field(0, ge=0)  # characters removed from the front of `number`
    prepend: Annotated[str, _text(r"[0-9+*#]*", "a dial prefix like +31")] = ""
    number: Name = "${EXTEN}"  # template; regex groups allowed (`+${1}`)


class IvrSpec(DialplanModel):
    prompt: Name
    options: dict[str, Name] = {}  # digit -> context

    @_model_validator(mode="after")
    def _digits(self) -> Self:
        bad = [k for k in self.options if not re.fullmatch(r"[0-9*#]", k)]
        raise_issues([(("options", k), f"'{k}' is not one key (0-9, * or #)") for k in bad])
        return self


class PlaySpec(DialplanModel):
    prompts: tuple[Name, ...] = Field(min_length=1)
    interruptible: bool = False  # a key stops it and goes on at once
    next: Name | None = None  # context to continue in; none: hang up after it


class NumberEntrySpec(DialplanModel):
    prompt: Name = "enter_number"
    min: int = Field(1, ge=1, le=32)
    max: int = Field(16, ge=1, le=32)
    validator: Literal["none", "luhn", "elfproef"] = "none"
    pattern: str | None = None  # a regex the whole entry must match
    next: Name | None = None  # context to continue in; none: hang up after the confirmation

    @_model_validator(mode="after")
    def _range(self) -> Self:
        issues: list[Issue] = []
        if self.min > self.max:
            issues.append((("min",), f"min {self.min} is more than max {self.max}"))
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                issues.append((("pattern",), f"not a regular expression: {exc}"))
        raise_issues(issues)
        return self


VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFAULT_VARIABLE = "COLLECTED"


class CollectSpec(DialplanModel):
    prompt: Name = "enter_number"
    min: int = Field(1, ge=1, le=32)
    max: int = Field(16, ge=1, le=32)
    first_timeout: float = Field(10.0, gt=0, le=300)  # from the end of the prompt to the first key
    inter_timeout: float = Field(5.0, gt=0, le=300)  # between keys
    terminator: Literal["#", "*", ""] = "#"  # "" : no terminator, every key is collected
    tries: int = Field(3, ge=1, le=10)
    retry_prompt: Name | None = "please_try_again"  # after a failed try; null: only the prompt again
    variable: str = DEFAULT_VARIABLE  # where the digits are kept: ${COLLECTED}
    next: Name  # context the collected digits are routed in (they become ${EXTEN})
    failed: Name | None = None  # context after the last failed try (original number); none: hang up

    @_model_validator(mode="after")
    def _checks(self) -> Self:
        issues: list[Issue] = []
        if self.min > self.max:
            issues.append((("min",), f"min {self.min} is more than max {self.max}"))
        if not VARIABLE.fullmatch(self.variable):
            issues.append((("variable",), f"'{self.variable}' is not a variable name (letters, digits, _)"))
        elif self.variable in BUILTIN_VARIABLES:
            issues.append((("variable",), f"'{self.variable}' is set by the PBX; pick another name"))
        raise_issues(issues)
        return self


class SaySpec(DialplanModel):
    value: Name  # a literal ("0534800900") or variables ("${COLLECTED}", "${CALLERID}")
    interruptible: bool = False
    next: Name | None = None  # context to continue in (the dialled number is routed there); none: hang up

    @_model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        # `say_digits: "${CALLERID}"` is short for `say_digits: {value: "${CALLERID}"}`
        return {"value": data} if isinstance(data, str | int) else data


ACTIONS = (
    "ring_user",
    "ring_device",
    "ring_queue",
    "feature",
    "announcement",
    "ivr",
    "number_entry",
    "play",
    "collect",
    "say_digits",
    "say_number",
    "trunk",
    "reject",
    "goto",
)
TEMPLATED = ("ring_user", "ring_device", "ring_queue", "announcement")


@dataclass(frozen=True)
class RuleContext:
    """Passed by the loader as pydantic's validation context: what a rule may refer to."""

    config: Config
    contexts: frozenset[str]
    variables: frozenset[str] = frozenset({DEFAULT_VARIABLE})  # the names collect actions set


class Rule(DialplanModel):
    name: str = ""  # shown by explain
    match: Match
    when: When | None = None
    ring_user: Name | None = None
    ring_device: Name | None = None
    ring_queue: Name | None = None  # queue name or number
    feature: FeatureName | None = None
    announcement: Name | None = None
    ivr: IvrSpec | None = None
    number_entry: NumberEntrySpec | None = None
    play: PlaySpec | None = None
    collect: CollectSpec | None = None
    say_digits: SaySpec | None = None
    say_number: SaySpec | None = None
    trunk: TrunkSpec | None = None
    reject: int | None = Field(None, ge=400, le=699)
    goto: Name | None = None

    @_model_validator(mode="after")
    def _checks(self, info: ValidationInfo) -> Self:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if not given:
            raise_issues([((), f"a rule needs one action: {', '.join(ACTIONS)}")])
        if len(given) > 1:
            raise_issues([((given[1],), f"a rule takes one action, but this one also has {given[0]}")])
        issues: list[Issue] = []
        groups = self.match.groups()
        templates: list[tuple[tuple[str, ...], str]] = [
            ((a,), getattr(self, a)) for a in TEMPLATED if getattr(self, a) is not None
        ]
        if self.trunk is not None:
            templates.append((("trunk", "number"), self.trunk.number))
        for how in ("say_digits", "say_number"):
            say: SaySpec | None = getattr(self, how)
            if say is not None:
                templates.append(((how, "value"), say.value))
                if "${" not in say.value:
                    issues += [((how, "value"), m) for m in _sayable(how, say.value)]
        variables = info.context.variables if isinstance(info.context, RuleContext) else None
        for loc, text in templates:
            try:
                check_template(text, groups, variables or frozenset({DEFAULT_VARIABLE}))
            except ValueError as exc:
                issues.append((loc, str(exc)))
        if isinstance(info.context, RuleContext):
            issues += self._references(info.context)
        raise_issues(issues)
        return self

    def _references(self, known: RuleContext) -> list[Issue]:
        cfg = known.config
        issues: list[Issue] = []
        if self.ring_user is not None and "${" not in self.ring_user and cfg.user(self.ring_user) is None:
            issues.append((("ring_user",), f"unknown user '{self.ring_user}'"))
        if (
            self.ring_device is not None
            and "${" not in self.ring_device
            and cfg.device(self.ring_device) is None
        ):
            issues.append((("ring_device",), f"unknown device '{self.ring_device}'"))
        if (
            self.ring_queue is not None
            and "${" not in self.ring_queue
            and find_queue(cfg, self.ring_queue) is None
        ):
            issues.append((("ring_queue",), f"unknown queue '{self.ring_queue}'"))
        if self.trunk is not None and self.trunk.name not in {t.name for t in cfg.trunks}:
            issues.append((("trunk", "name"), f"unknown trunk '{self.trunk.name}'"))
        if self.goto is not None and self.goto not in known.contexts:
            issues.append((("goto",), f"unknown context '{self.goto}'"))
        if self.play is not None and self.play.next is not None and self.play.next not in known.contexts:
            issues.append((("play", "next"), f"unknown context '{self.play.next}'"))
        if self.number_entry is not None and self.number_entry.next is not None:
            if self.number_entry.next not in known.contexts:
                issues.append((("number_entry", "next"), f"unknown context '{self.number_entry.next}'"))
        for loc, target in self._next_contexts():
            if target not in known.contexts:
                issues.append((loc, f"unknown context '{target}'"))
        if self.ivr is not None:
            for digit, target in self.ivr.options.items():
                if target not in known.contexts:
                    issues.append((("ivr", "options", digit), f"unknown context '{target}'"))
        return issues

    def _next_contexts(self) -> list[tuple[tuple[str, ...], str]]:
        out: list[tuple[tuple[str, ...], str]] = []
        if self.collect is not None:
            out.append((("collect", "next"), self.collect.next))
            if self.collect.failed is not None:
                out.append((("collect", "failed"), self.collect.failed))
        for how in ("say_digits", "say_number"):
            say: SaySpec | None = getattr(self, how)
            if say is not None and say.next is not None:
                out.append(((how, "next"), say.next))
        return out


def _sayable(how: str, value: str) -> list[str]:
    """Problems with a literal value: say_number takes 0..999, say_digits the keys 0-9 * #."""
    if how == "say_number":
        if not value.isdigit() or int(value) > 999:
            return [f"'{value}' is not a number from 0 to 999 (longer numbers: say_digits)"]
        return []
    bad = sorted({c for c in value if c not in "0123456789*#"})
    return [f"cannot say {', '.join(repr(c) for c in bad)} (say_digits says 0-9, * and #)"] if bad else []


def find_queue(cfg: Config, name_or_number: str) -> str | None:
    """A queue's name, looked up by name or by its number."""
    if cfg.queue(name_or_number) is not None:
        return name_or_number
    return next((q.name for q in cfg.queues if q.number == name_or_number), None)
