"""What the hotdesk dialogue says, as prompt names the media layer plays (`sounds/<lang>/<name>`).

The names are the media layer's (sounds/prompts.tsv, `REQUIRED_PROMPTS` in pbx/media/prompts.py),
from issue 5's list: "enter your extension", "enter your PIN", "you are logged in as <number>",
"you are logged out", "wrong PIN", "too many attempts"; numbers are read digit by digit with
pbx.media.say. Both refusals say the generic "not allowed" for now: a dedicated prompt per
refusal (user / device) only needs a line in prompts.tsv and a new name here; `Done.outcome`
already tells them apart.

Speech is kept structured (`Play` a prompt, `SayDigits` a number) so a media layer can read
numbers its own way; `prompt_names` flattens it to file names in a language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pbx.media.say import say_digits

ENTER_EXTENSION = "enter_extension"
ENTER_PIN = "enter_pin"
LOGGED_IN_AS = "logged_in_as"
LOGGED_OUT = "logged_out"
WRONG_PIN = "wrong_pin"
TOO_MANY_ATTEMPTS = "too_many_attempts"
NOT_ALLOWED_USER = "not_allowed"  # the user may not hotdesk
NOT_ALLOWED_DEVICE = "not_allowed"  # this phone may not be hotdesked (lift, canteen, reception)
GOODBYE = "goodbye"  # nothing keyed: the call ends


@dataclass(frozen=True, slots=True)
class Play:
    name: str


@dataclass(frozen=True, slots=True)
class SayDigits:
    """Read a number digit by digit: "2 0 3" (extensions may have leading zeros: "0 0 1")."""

    digits: str


Speech = Play | SayDigits


def prompt_names(speech: Iterable[Speech], language: str) -> tuple[str, ...]:
    out: list[str] = []
    for s in speech:
        if isinstance(s, Play):
            out.append(s.name)
        else:
            out += say_digits(s.digits, language)
    return tuple(out)


def logged_in_as(extension: str) -> tuple[Speech, ...]:
    return (Play(LOGGED_IN_AS), SayDigits(extension))
