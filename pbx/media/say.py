"""Numbers and digit strings as lists of prompt names, per language.

Numbers are spoken from a small set of recorded words (0-20, the tens, "hundred", "and"), so
1..999 needs 33 prompts per language instead of 999. Word order is the language's own:

    nl  21 -> een-en-twintig        [num_1, and, num_20]
        100 -> honderd              [hundred]
        305 -> driehonderd vijf     [num_3, hundred, num_5]
    en  21 -> twenty-one            [num_20, num_1]
        100 -> one hundred          [num_1, hundred]
        305 -> three hundred and five  [num_3, hundred, and, num_5]
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("nl", "en")
MAX_NUMBER: Final = 999

#: every prompt name this module can return
NUMBER_PROMPTS: Final = frozenset(
    [f"num_{n}" for n in range(21)]
    + [f"num_{n}" for n in range(30, 100, 10)]
    + ["hundred", "and", "star", "hash"]
)

_DIGIT_NAMES: Final = {**{str(d): f"num_{d}" for d in range(10)}, "*": "star", "#": "hash"}


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"no number rules for language {lang!r} (have {', '.join(LANGUAGES)})")


def _below_100(n: int, lang: str) -> list[str]:
    if n <= 20:
        return [f"num_{n}"]
    tens, units = divmod(n, 10)
    if units == 0:
        return [f"num_{tens * 10}"]
    if lang == "nl":
        return [f"num_{units}", "and", f"num_{tens * 10}"]
    return [f"num_{tens * 10}", f"num_{units}"]


def say_number(n: int, lang: str) -> list[str]:
    """Prompt names that speak `n` (0..999) in `lang`."""
    _check_lang(lang)
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"can only say 0..{MAX_NUMBER}, not {n}")
    if n < 100:
        return _below_100(n, lang)
    hundreds, rest = divmod(n, 100)
    if lang == "nl":
        # Dutch says "honderd", not "een honderd"; the rest follows without "en"
        out = ([] if hundreds == 1 else [f"num_{hundreds}"]) + ["hundred"]
        return out + (_below_100(rest, lang) if rest else [])
    out = [f"num_{hundreds}", "hundred"]
    return out + (["and", *_below_100(rest, lang)] if rest else [])


def say_digits(digits: str, lang: str) -> list[str]:
    """One prompt per character of a dialled string: 0-9, `*` and `#`."""
    _check_lang(lang)
    try:
        return [_DIGIT_NAMES[c] for c in digits]
    except KeyError as e:
        raise ValueError(f"cannot say {e.args[0]!r} in {digits!r}") from None


def speak(how: str, value: str, lang: str) -> list[str]:
    """A dialplan's `say_digits` / `say_number` of a value that is only known while the call runs
    (`${CALLERID}`, collected digits): characters that have no prompt (`+`, letters) are left
    out, and a `number` that is not 0..999 is said digit by digit (there are no "thousand" words)."""
    keys = "".join(c for c in value if c in _DIGIT_NAMES)
    if how == "number" and value.isascii() and value.isdigit() and int(value) <= MAX_NUMBER:
        return say_number(int(value), lang)
    return say_digits(keys, lang)


def queue_position(position: int, lang: str) -> list[str]:
    """ "You are number <n> in the queue." """
    return ["you_are_number", *say_number(position, lang), "in_the_queue"]


def expected_wait(minutes: int, lang: str) -> list[str]:
    """ "Your expected wait is <n> minute(s)." """
    return ["expected_wait", *say_number(minutes, lang), "minute" if minutes == 1 else "minutes"]
