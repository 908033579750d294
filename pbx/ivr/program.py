"""What a call answered by the PBX does: play prompts, take digits, decide (pure, clock passed in).

A `Program` is a small state machine driven by three inputs: a playback finished, a digit came
in, a deadline passed. It answers with commands for the application call that runs it:
`Play` prompts (interruptible or not), `StopPlay`, `Goto` a dialplan context, `Hangup`, and
`Attach` data to the call (number entry). Programs:

- `Announcement`: play one prompt, then hang up.
- `Menu`: play a prompt (a key interrupts it), wait for one key; a listed key goes to its
  context; an unlisted key or silence replays the prompt after "invalid" / "please try again",
  at most `retries` times, then "goodbye" and hang up.
- `NumberEntry` (VC 4.3): play a prompt, collect `min`..`max` digits (`#` ends early), with a
  first-digit and an inter-digit timeout; validate (length, regex, Luhn, 11-proof); attach
  `{digits, valid}` to the call; on an invalid entry retry, and after the last try go on with
  `valid: false` (the agent sees it), as the Vcare console does.
- `Collect` (Asterisk `Read()`): the same digit machinery as `NumberEntry` (it is one), with a
  configurable terminator and `*`/`#` as keys; a good entry (min..max keys) is stored in a call
  variable (`SetVar`) and routed as the new dialled number in `next`; after the last failed try
  it goes to `failed` (the original dialled number) or says goodbye and hangs up.
- `SayThen`: speak a value key by key or as a number (pbx.media.say, in the call's language),
  then go on like `PlayThen`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pbx.media.say import speak

# --- commands to the application call -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Play:
    prompts: tuple[str, ...]
    interruptible: bool = True
    loop: bool = False


@dataclass(frozen=True, slots=True)
class StopPlay:
    pass


@dataclass(frozen=True, slots=True)
class Goto:
    context: str
    dialled: str | None = None  # route this instead of the call's dialled number (collect)


@dataclass(frozen=True, slots=True)
class SetVar:
    """Set a call variable (`${COLLECTED}`) the dialplan can use from now on."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Attach:
    key: str
    value: dict[str, object]


@dataclass(frozen=True, slots=True)
class Emit:
    """Effects for the shell (a hotdesk login to store, ...), passed on as they are."""

    effects: tuple[object, ...]


Command = Play | StopPlay | Goto | SetVar | Hangup | Attach | Emit


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def elfproef_ok(digits: str) -> bool:
    """The Dutch 11-proof of a BSN (9 digits): sum of digit * weight (9..2, and -1 for the last)
    is a multiple of 11, and not 0."""
    if len(digits) not in (8, 9):
        return False
    d = digits.zfill(9)
    total = sum(int(c) * w for c, w in zip(d[:8], range(9, 1, -1), strict=True)) - int(d[8])
    return total != 0 and total % 11 == 0


def _any(_: str) -> bool:
    return True


VALIDATORS: dict[str, Callable[[str], bool]] = {"luhn": luhn_ok, "elfproef": elfproef_ok, "none": _any}


class Program:
    """Base: the deadline and the commands plumbing. `wall_offset` (wall - monotonic, set by the
    call that runs the program) is for programs whose decisions need the wall clock; `language`
    (also set by the call) for programs that build sentences from words (say.py)."""

    deadline: float | None = None
    wall_offset: float = 0.0
    language: str = "nl"

    def start(self, now: float) -> list[Command]:
        raise NotImplementedError

    def on_play_done(self, now: float) -> list[Command]:
        return []

    def on_digit(self, digit: str, now: float) -> list[Command]:
        return []

    def on_timer(self, now: float) -> list[Command]:
        return []


@dataclass
class Announcement(Program):
    prompt: str

    def start(self, now: float) -> list[Command]:
        return [Play((self.prompt,), interruptible=False)]

    def on_play_done(self, now: float) -> list[Command]:
        return [Hangup()]


@dataclass
class PlayThen(Program):
    """Play prompts, then go on in a context (or hang up); a key may cut it short."""

    prompts: tuple[str, ...]
    interruptible: bool = False
    next_context: str | None = None
    done: bool = False

    def start(self, now: float) -> list[Command]:
        return [Play(self.prompts, interruptible=self.interruptible)]

    def _next(self) -> list[Command]:
        if self.done:
            return []
        self.done = True
        return [Goto(self.next_context)] if self.next_context else [Hangup()]

    def on_play_done(self, now: float) -> list[Command]:
        return self._next()

    def on_digit(self, digit: str, now: float) -> list[Command]:
        return [StopPlay(), *self._next()] if self.interruptible else []


@dataclass
class Menu(Program):
    prompt: str
    options: dict[str, str]  # key -> context
    timeout: float = 5.0  # after the prompt ends
    retries: int = 3
    tries: int = 0
    waiting: bool = False
    deadline: float | None = None

    def start(self, now: float) -> list[Command]:
        self.tries += 1
        self.waiting, self.deadline = False, None
        return [Play((self.prompt,))]

    def on_play_done(self, now: float) -> list[Command]:
        if not self.waiting:
            self.waiting, self.deadline = True, now + self.timeout
        return []

    def on_digit(self, digit: str, now: float) -> list[Command]:
        target = self.options.get(digit)
        self.deadline = None
        if target is not None:
            return [StopPlay(), Goto(target)]
        return [StopPlay(), *self._again(now, "invalid")]

    def on_timer(self, now: float) -> list[Command]:
        if self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        return self._again(now, "please_try_again")

    def _again(self, now: float, why: str) -> list[Command]:
        if self.tries >= self.retries:
            self.waiting = True  # the goodbye must not restart the wait
            return [Play(("goodbye",), interruptible=False), Hangup()]
        out: list[Command] = [Play((why,))]
        self.tries += 1
        self.waiting, self.deadline = False, None
        return [*out, Play((self.prompt,))]


@dataclass
class NumberEntry(Program):
    prompt: str
    min_digits: int
    max_digits: int
    validator: str = "none"  # luhn, elfproef or none
    pattern: str | None = None  # a regex the whole entry must match
    first_timeout: float = 10.0
    inter_timeout: float = 5.0
    retries: int = 3
    next_context: str | None = None  # where the call goes after the entry (else hang up)
    terminator: str = "#"  # ends the entry early; "" for none
    digits: str = ""
    tries: int = 0
    listening: bool = False
    deadline: float | None = None
    results: list[str] = field(default_factory=list)

    def start(self, now: float) -> list[Command]:
        self.tries += 1
        self.digits, self.listening = "", True
        self.deadline = None  # the first-digit clock starts when the prompt ends
        return [Play((self.prompt,))]

    def on_play_done(self, now: float) -> list[Command]:
        if self.listening and not self.digits and self.deadline is None:
            self.deadline = now + self.first_timeout
        return []

    def on_digit(self, digit: str, now: float) -> list[Command]:
        if not self.listening:
            return []
        out: list[Command] = [StopPlay()] if not self.digits else []
        if self.terminator and digit == self.terminator:
            return [*out, *self._finish(now)]
        if self.collects(digit):
            self.digits += digit
        if len(self.digits) >= self.max_digits:
            return [*out, *self._finish(now)]
        self.deadline = now + self.inter_timeout
        return out

    def on_timer(self, now: float) -> list[Command]:
        if self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        return self._finish(now)

    def collects(self, digit: str) -> bool:
        return digit.isdigit()

    def valid(self, digits: str) -> bool:
        if not self.min_digits <= len(digits) <= self.max_digits:
            return False
        if self.pattern is not None and re.fullmatch(self.pattern, digits) is None:
            return False
        return VALIDATORS[self.validator](digits)

    def _finish(self, now: float) -> list[Command]:
        self.listening, self.deadline = False, None
        ok = self.valid(self.digits)
        self.results.append(self.digits)
        if not ok and self.tries < self.retries:
            return [Play(("number_invalid", "please_try_again"), interruptible=False), *self.start(now)]
        entry: dict[str, object] = {"digits": self.digits or None, "valid": ok if self.digits else None}
        confirm = Play(("number_accepted" if ok else "number_invalid",), interruptible=False)
        done: list[Command] = [Attach("number_entry", entry), confirm]
        return [*done, Goto(self.next_context) if self.next_context else Hangup()]


@dataclass
class Collect(NumberEntry):
    """Digits for the dialplan (Asterisk `Read()`); `retries` is the number of tries."""

    variable: str = "COLLECTED"
    failed_context: str | None = None  # after the last failed try (else goodbye and hang up)
    retry_prompt: str | None = "please_try_again"  # before the prompt of the next try

    def collects(self, digit: str) -> bool:
        return digit in "0123456789*#"  # the terminator never gets here

    def valid(self, digits: str) -> bool:
        return self.min_digits <= len(digits) <= self.max_digits

    def _finish(self, now: float) -> list[Command]:
        self.listening, self.deadline = False, None
        self.results.append(self.digits)
        if self.valid(self.digits):
            stored = SetVar(self.variable, self.digits)
            return [stored, Goto(self.next_context, self.digits) if self.next_context else Hangup()]
        if self.tries < self.retries:
            again: list[Command] = (
                [Play((self.retry_prompt,), interruptible=False)] if self.retry_prompt else []
            )
            return [*again, *self.start(now)]
        # like Read(): the variable holds what the last try gave (too short, or empty)
        stored = SetVar(self.variable, self.digits)
        if self.failed_context:
            return [stored, Goto(self.failed_context)]
        return [stored, Play(("goodbye",), interruptible=False), Hangup()]


@dataclass
class SayThen(PlayThen):
    """Speak `value` (`how`: "digits" or "number") in the call's language, then go on or hang up;
    `prompts` is filled in at the start, once the language is known."""

    how: str = "digits"
    value: str = ""

    def start(self, now: float) -> list[Command]:
        self.prompts = tuple(speak(self.how, self.value, self.language))
        if not self.prompts:  # an empty variable: nothing to say
            return self._next()
        return super().start(now)
