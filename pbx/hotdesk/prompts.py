"""What the hotdesk dialogue says, as prompt names the media layer plays (`sounds/<lang>/<name>`).

The names follow the list of issue 5 (the media issue generates the files from text):
"enter your extension", "enter your PIN", "you are logged in as <number>", "you are logged out",
"wrong PIN", "too many attempts", and the digits 0-9. The two refusals are not in that list and
must be added to the prompt table next to them (texts in `PROMPT_TEXTS`).

Speech is kept structured (`Play` a prompt, `SayDigits` a number) so a media layer with a
`say_digits` of its own can read numbers its way; `prompt_names` flattens it to file names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ENTER_EXTENSION = "enter-extension"
ENTER_PIN = "enter-pin"
LOGGED_IN_AS = "logged-in-as"
LOGGED_OUT = "logged-out"
WRONG_PIN = "wrong-pin"
TOO_MANY_ATTEMPTS = "too-many-attempts"
NOT_ALLOWED_USER = "hotdesk-not-allowed-user"
NOT_ALLOWED_DEVICE = "hotdesk-not-allowed-device"


def digit_prompt(digit: str) -> str:
    return f"digit-{digit}"


# The texts the prompt generator needs (English, Dutch): the media layer owns the table; this is
# what hotdesking expects it to say.
PROMPT_TEXTS: dict[str, tuple[str, str]] = {
    ENTER_EXTENSION: ("Please enter your extension.", "Toets uw verkorte nummer in."),
    ENTER_PIN: ("Please enter your PIN.", "Toets uw pincode in."),
    LOGGED_IN_AS: ("You are logged in as", "U bent ingelogd als"),
    LOGGED_OUT: ("You are logged out.", "U bent uitgelogd."),
    WRONG_PIN: ("Wrong PIN.", "Onjuiste pincode."),
    TOO_MANY_ATTEMPTS: (
        "Too many attempts. Please try again later.",
        "Te veel pogingen. Probeer het later opnieuw.",
    ),
    NOT_ALLOWED_USER: (
        "Hotdesking is not enabled for this user.",
        "Hotdesking is niet ingeschakeld voor deze gebruiker.",
    ),
    NOT_ALLOWED_DEVICE: (
        "Hotdesking is not enabled on this phone.",
        "Hotdesking is niet ingeschakeld op dit toestel.",
    ),
}


@dataclass(frozen=True, slots=True)
class Play:
    name: str


@dataclass(frozen=True, slots=True)
class SayDigits:
    """Read a number digit by digit: "2 0 3" (extensions may have leading zeros: "0 0 1")."""

    digits: str


Speech = Play | SayDigits


def prompt_names(speech: Iterable[Speech]) -> tuple[str, ...]:
    out: list[str] = []
    for s in speech:
        if isinstance(s, Play):
            out.append(s.name)
        else:
            out.extend(digit_prompt(d) for d in s.digits)
    return tuple(out)


def logged_in_as(extension: str) -> tuple[Speech, ...]:
    return (Play(LOGGED_IN_AS), SayDigits(extension))
