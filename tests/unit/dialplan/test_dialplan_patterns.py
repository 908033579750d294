"""Matchers (exact, prefix, Asterisk patterns, regex) and `${...}` templates, table-driven."""

from __future__ import annotations

import pytest

from pbx.dialplan.patterns import (
    Exact,
    Pattern,
    PatternError,
    Prefix,
    Regex,
    check_template,
    expand,
)


@pytest.mark.parametrize(
    "pattern, dialled, matches",
    [
        ("_2XX", "203", True),
        ("_2XX", "20", False),
        ("_2XX", "2034", False),
        ("_2XX", "303", False),
        ("_X", "0", True),
        ("_Z", "0", False),
        ("_Z", "1", True),
        ("_N", "1", False),
        ("_N", "2", True),
        ("_N", "9", True),
        ("_x", "5", True),  # lower case works as in Asterisk
        ("_[1-5]", "5", True),
        ("_[1-5]", "6", False),
        ("_[135]", "3", True),
        ("_[135]", "2", False),
        ("_[1-35-7]", "6", True),
        ("_[1-35-7]", "4", False),
        ("_[*#]", "#", True),
        ("_0ZXXXXXXXX", "0534800900", True),
        ("_0ZXXXXXXXX", "0034800900", False),
        ("_0ZXXXXXXXX", "053480090", False),
        ("_X.", "1", False),  # `.` is one or more
        ("_X.", "12", True),
        ("_X.", "1*#", True),  # `.` takes any character
        ("_X!", "1", True),  # `!` is zero or more
        ("_X!", "1234", True),
        ("_*35!", "*35", True),
        ("_*35!", "*35*203*2033", True),
        ("_*35!", "*3", False),
        ("_+31.", "+31534800900", True),
        ("_0.0", "0120", True),  # `.` in the middle backtracks
        ("_0.0", "00", False),
    ],
)
def test_pattern_match(pattern: str, dialled: str, matches: bool) -> None:
    assert (Pattern.compile(pattern).match(dialled) is not None) is matches


@pytest.mark.parametrize(
    "pattern, dialled, incomplete",
    [
        ("_06XXXXXXXX", "06", True),
        ("_06XXXXXXXX", "0", True),
        ("_06XXXXXXXX", "", True),
        ("_06XXXXXXXX", "061234567", True),
        ("_06XXXXXXXX", "0612345678", False),  # complete
        ("_06XXXXXXXX", "07", False),  # can never match
        ("_X.", "1", True),
        ("_X.", "12", True),  # matches, and could also take more
        ("_X!", "", True),
        ("_2XX", "203", False),
    ],
)
def test_pattern_could_extend(pattern: str, dialled: str, incomplete: bool) -> None:
    assert Pattern.compile(pattern).could_extend(dialled) is incomplete


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("2XX", "pattern '2XX' must start with '_' (like _0ZXXXXXXXX)"),
        ("_", "pattern '_' is empty"),
        ("_0Y", "pattern '_0Y' has an unexpected character 'Y'"),
        ("_[12", "pattern '_[12' has '[' without ']'"),
        ("_[]", "pattern '_[]' has an empty class []"),
        ("_[5-1]", "pattern '_[5-1]' has a bad range 5-1"),
        ("_[a]", "pattern '_[a]' has 'a' in a class"),
    ],
)
def test_pattern_errors(pattern: str, message: str) -> None:
    with pytest.raises(PatternError) as info:
        Pattern.compile(pattern)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "pattern, literal",
    [("_*35!", "*35"), ("_*48*X!", "*48*"), ("_2XX", "2"), ("_X.", ""), ("_[1]2", "12")],
)
def test_pattern_literal_part(pattern: str, literal: str) -> None:
    assert Pattern.compile(pattern).literal == literal


@pytest.mark.parametrize(
    "matcher, dialled, result, incomplete",
    [
        (Exact("112"), "112", (), False),
        (Exact("112"), "1121", None, False),
        (Exact("112"), "11", None, True),
        (Prefix("0"), "0", (), False),
        (Prefix("0"), "0534800900", (), False),
        (Prefix("00"), "0", None, True),
        (Prefix("0"), "1", None, False),
        (Prefix(""), "anything", (), False),
        (Regex.compile(r"00(\d+)"), "0031534800900", ("31534800900",), False),
        (Regex.compile(r"00(\d+)"), "x0031", None, False),  # full match only
        (Regex.compile(r"00(\d+)"), "00", None, False),  # regexes never say "incomplete"
        (Regex.compile(r"(1)?(2)"), "2", ("", "2"), False),  # an unused group is ""
    ],
)
def test_matchers(matcher: Exact | Prefix | Regex, dialled: str, result: object, incomplete: bool) -> None:
    assert matcher.match(dialled) == result
    assert matcher.could_extend(dialled) is incomplete


def test_bad_regex() -> None:
    with pytest.raises(PatternError) as info:
        Regex.compile("((")
    assert str(info.value) == "'((' is not a valid regex: missing ), unterminated subpattern at position 1"


@pytest.mark.parametrize(
    "template, exten, groups, out",
    [
        ("${EXTEN}", "203", (), "203"),
        ("${EXTEN:1}", "0534800900", (), "534800900"),
        ("+31${EXTEN:1}", "0534800900", (), "+31534800900"),
        ("${EXTEN:-3}", "0534800900", (), "900"),
        ("${EXTEN:1:3}", "0534800900", (), "534"),
        ("${1}", "0031534800900", ("31534800900",), "31534800900"),
        ("+${1}-${2}", "x", ("31", "53"), "+31-53"),
        ("plain", "203", (), "plain"),
    ],
)
def test_expand(template: str, exten: str, groups: tuple[str, ...], out: str) -> None:
    check_template(template, len(groups))
    assert expand(template, exten, groups) == out


UNKNOWN = (
    "unknown variable ${{{}}} (use ${{EXTEN}}, ${{EXTEN:1}}, ${{CALLERID}}, ${{1}} "
    "or a variable a collect action sets)"
)


@pytest.mark.parametrize(
    "template, groups, message",
    [
        ("${FOO}", 0, UNKNOWN.format("FOO")),
        ("${EXTEN:x}", 0, UNKNOWN.format("EXTEN:x")),
        ("${1}", 0, "${1} needs regex group 1, but the match is no regex"),
        ("${2}", 1, "${2} needs regex group 2, but the regex has 1 group"),
        ("${EXTEN", 0, "'${EXTEN' has '${' without a closing '}'"),
    ],
)
def test_template_errors(template: str, groups: int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_template(template, groups)
    assert str(info.value) == message
