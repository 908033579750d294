"""Numbers and digits as prompt names, in Dutch and English word order."""

from __future__ import annotations

import pytest

from pbx.media.say import LANGUAGES, NUMBER_PROMPTS, expected_wait, queue_position, say_digits, say_number


@pytest.mark.parametrize(
    "n, nl, en",
    [
        (0, ["num_0"], ["num_0"]),
        (7, ["num_7"], ["num_7"]),
        (13, ["num_13"], ["num_13"]),
        (20, ["num_20"], ["num_20"]),
        (21, ["num_1", "and", "num_20"], ["num_20", "num_1"]),
        (40, ["num_40"], ["num_40"]),
        (99, ["num_9", "and", "num_90"], ["num_90", "num_9"]),
        (100, ["hundred"], ["num_1", "hundred"]),
        (101, ["hundred", "num_1"], ["num_1", "hundred", "and", "num_1"]),
        (115, ["hundred", "num_15"], ["num_1", "hundred", "and", "num_15"]),
        (200, ["num_2", "hundred"], ["num_2", "hundred"]),
        (345, ["num_3", "hundred", "num_5", "and", "num_40"], ["num_3", "hundred", "and", "num_40", "num_5"]),
        (999, ["num_9", "hundred", "num_9", "and", "num_90"], ["num_9", "hundred", "and", "num_90", "num_9"]),
    ],
)
def test_say_number(n: int, nl: list[str], en: list[str]) -> None:
    assert say_number(n, "nl") == nl
    assert say_number(n, "en") == en


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_number_uses_known_prompts_and_sayings_are_distinct(lang: str) -> None:
    seen = set()
    for n in range(1000):
        names = say_number(n, lang)
        assert set(names) <= NUMBER_PROMPTS, n
        seen.add(tuple(names))
    assert len(seen) == 1000


def test_out_of_range_and_unknown_language() -> None:
    with pytest.raises(ValueError):
        say_number(1000, "nl")
    with pytest.raises(ValueError):
        say_number(-1, "en")
    with pytest.raises(ValueError):
        say_number(5, "de")


def test_say_digits() -> None:
    assert say_digits("2031*#", "nl") == ["num_2", "num_0", "num_3", "num_1", "star", "hash"]
    assert say_digits("", "en") == []
    with pytest.raises(ValueError):
        say_digits("12a", "en")


def test_sentences() -> None:
    assert queue_position(3, "nl") == ["you_are_number", "num_3", "in_the_queue"]
    assert expected_wait(1, "en") == ["expected_wait", "num_1", "minute"]
    assert expected_wait(25, "nl") == ["expected_wait", "num_5", "and", "num_20", "minutes"]
