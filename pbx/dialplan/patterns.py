"""Matchers for dialled strings: exact, prefix, Asterisk-style pattern and regex.

Each matcher answers two questions about a dialled string:
- `match(s)`: does the rule apply? It returns the regex groups (empty for the other kinds), or None.
- `could_extend(s)`: is `s` a proper prefix of a string that would match? The router answers
  484 Address Incomplete instead of 404 when some rule could still match after more digits.

Asterisk patterns (`_0ZXXXXXXXX`) start with `_`; then `X` is 0-9, `Z` is 1-9, `N` is 2-9, `[1-5]`
or `[135]` is a class, `.` is one or more of any character and `!` is zero or more (as in Asterisk).
Digits, `*`, `#` and `+` are literal. A pattern is compiled to a list of tokens (a character set,
once or any number of times) and run as a small NFA, which gives the prefix question for free.
Python's `re` has no partial matching, so a regex rule never makes a string "incomplete".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

DIGITS = frozenset("0123456789")
_LITERALS = frozenset("0123456789*#+")
_NAMED = {"X": DIGITS, "Z": frozenset("123456789"), "N": frozenset("23456789")}
ANY: frozenset[str] = frozenset()  # marker: any character (`.` and `!`)


class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    chars: frozenset[str]  # ANY (empty) matches every character
    repeat: bool  # False: exactly once; True: zero or more times

    def accepts(self, c: str) -> bool:
        return not self.chars or c in self.chars


def parse_pattern(text: str) -> tuple[Token, ...]:
    """`_0ZX.` -> tokens; raises PatternError with a plain-words reason."""
    if not text.startswith("_"):
        raise PatternError(f"pattern {text!r} must start with '_' (like _0ZXXXXXXXX)")
    body = text[1:]
    if not body:
        raise PatternError("pattern '_' is empty")
    tokens: list[Token] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c.upper() in _NAMED:
            tokens.append(Token(_NAMED[c.upper()], False))
        elif c in _LITERALS:
            tokens.append(Token(frozenset(c), False))
        elif c == ".":  # one or more
            tokens += [Token(ANY, False), Token(ANY, True)]
        elif c == "!":  # zero or more
            tokens.append(Token(ANY, True))
        elif c == "[":
            end = body.find("]", i)
            if end < 0:
                raise PatternError(f"pattern {text!r} has '[' without ']'")
            tokens.append(Token(_char_class(text, body[i + 1 : end]), False))
            i = end
        else:
            raise PatternError(f"pattern {text!r} has an unexpected character {c!r}")
        i += 1
    return tuple(tokens)


def _char_class(text: str, inner: str) -> frozenset[str]:
    if not inner:
        raise PatternError(f"pattern {text!r} has an empty class []")
    chars: set[str] = set()
    i = 0
    while i < len(inner):
        c = inner[i]
        if c not in _LITERALS:
            raise PatternError(f"pattern {text!r} has {c!r} in a class")
        if i + 2 < len(inner) and inner[i + 1] == "-":
            last = inner[i + 2]
            if c not in DIGITS or last not in DIGITS or last < c:
                raise PatternError(f"pattern {text!r} has a bad range {c}-{last}")
            chars.update(str(d) for d in range(int(c), int(last) + 1))
            i += 3
        else:
            chars.add(c)
            i += 1
    return frozenset(chars)


def _closure(tokens: tuple[Token, ...], states: set[int]) -> set[int]:
    """A repeating token may be skipped: from state i we may also be at i + 1."""
    out = set(states)
    todo = list(states)
    while todo:
        i = todo.pop()
        if i < len(tokens) and tokens[i].repeat and i + 1 not in out:
            out.add(i + 1)
            todo.append(i + 1)
    return out


def _run(tokens: tuple[Token, ...], s: str) -> set[int]:
    """The NFA states reachable after reading all of `s` (state len(tokens) = accept)."""
    states = _closure(tokens, {0})
    for c in s:
        step: set[int] = set()
        for i in states:
            if i < len(tokens) and tokens[i].accepts(c):
                step.add(i if tokens[i].repeat else i + 1)
        if not step:
            return set()
        states = _closure(tokens, step)
    return states


class Matcher(Protocol):
    @property
    def text(self) -> str: ...  # for explanations: "pattern _0ZXXXXXXXX"

    @property
    def literal(self) -> str: ...  # the fixed leading part (feature codes take what follows)

    def match(self, s: str) -> tuple[str, ...] | None: ...

    def could_extend(self, s: str) -> bool: ...


@dataclass(frozen=True)
class Exact:
    value: str

    @property
    def text(self) -> str:
        return f"exact {self.value}"

    @property
    def literal(self) -> str:
        return self.value

    def match(self, s: str) -> tuple[str, ...] | None:
        return () if s == self.value else None

    def could_extend(self, s: str) -> bool:
        return len(s) < len(self.value) and self.value.startswith(s)


@dataclass(frozen=True)
class Prefix:
    value: str  # the dialled string starts with this (or equals it)

    @property
    def text(self) -> str:
        return f"prefix {self.value or '(any)'}"

    @property
    def literal(self) -> str:
        return self.value

    def match(self, s: str) -> tuple[str, ...] | None:
        return () if s.startswith(self.value) else None

    def could_extend(self, s: str) -> bool:
        return len(s) < len(self.value) and self.value.startswith(s)


@dataclass(frozen=True)
class Pattern:
    source: str
    tokens: tuple[Token, ...]

    @classmethod
    def compile(cls, source: str) -> Pattern:
        return cls(source, parse_pattern(source))

    @property
    def text(self) -> str:
        return f"pattern {self.source}"

    @property
    def literal(self) -> str:
        out = ""
        for t in self.tokens:
            if t.repeat or len(t.chars) != 1:
                break
            out += next(iter(t.chars))
        return out

    def match(self, s: str) -> tuple[str, ...] | None:
        return () if len(self.tokens) in _run(self.tokens, s) else None

    def could_extend(self, s: str) -> bool:
        return any(i < len(self.tokens) for i in _run(self.tokens, s))


@dataclass(frozen=True)
class Regex:
    source: str
    compiled: re.Pattern[str]

    @classmethod
    def compile(cls, source: str) -> Regex:
        try:
            return cls(source, re.compile(source))
        except re.error as exc:
            raise PatternError(f"{source!r} is not a valid regex: {exc}") from None

    @property
    def text(self) -> str:
        return f"regex {self.source}"

    @property
    def literal(self) -> str:
        return ""

    def match(self, s: str) -> tuple[str, ...] | None:
        m = self.compiled.fullmatch(s)
        return None if m is None else tuple(g or "" for g in m.groups())

    def could_extend(self, s: str) -> bool:
        return False


# ${EXTEN}, ${EXTEN:offset}, ${EXTEN:offset:length} (Asterisk substrings) and ${1}... (regex groups).
# Call variables work the same way: ${CALLERID} (the caller's number) and the variables a `collect`
# action fills in (${COLLECTED}, or the name it gives), with the same substring forms.
_VAR = re.compile(r"\$\{([^}]*)\}")
_NAMED_VAR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::(-?[0-9]+)(?::([0-9]+))?)?")
_GROUP = re.compile(r"[1-9][0-9]*")
BUILTIN_VARIABLES = frozenset({"EXTEN", "CALLERID"})


def check_template(text: str, groups: int, variables: frozenset[str] = frozenset()) -> None:
    """Raise ValueError if `text` uses an unknown variable or a regex group that does not exist.
    `variables` are the call variables the dialplan defines (collect); EXTEN and CALLERID always are."""
    known = BUILTIN_VARIABLES | variables
    for m in _VAR.finditer(text):
        name = m.group(1)
        var = _NAMED_VAR.fullmatch(name)
        if var is not None and var.group(1) in known:
            continue
        if _GROUP.fullmatch(name):
            if int(name) > groups:
                have = (
                    f"the regex has {groups} group{'s' if groups != 1 else ''}"
                    if groups
                    else "the match is no regex"
                )
                raise ValueError(f"${{{name}}} needs regex group {name}, but {have}")
            continue
        raise ValueError(
            f"unknown variable ${{{name}}} (use ${{EXTEN}}, ${{EXTEN:1}}, ${{CALLERID}}, ${{1}} "
            "or a variable a collect action sets)"
        )
    rest = _VAR.sub("", text)
    if "${" in rest:
        raise ValueError(f"{text!r} has '${{' without a closing '}}'")


def is_template(text: str) -> bool:
    return "${" in text


def expand(text: str, exten: str, groups: tuple[str, ...], variables: Mapping[str, str] | None = None) -> str:
    """Substitute variables (the template was checked at load time). A call variable that is not
    set (yet) is empty, as in Asterisk."""
    values = variables or {}

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if _GROUP.fullmatch(name):
            i = int(name)
            return groups[i - 1] if i <= len(groups) else ""
        sub = _NAMED_VAR.fullmatch(name)
        assert sub is not None
        value = exten if sub.group(1) == "EXTEN" else values.get(sub.group(1), "")
        value = value[int(sub.group(2) or 0) :]
        return value[: int(sub.group(3))] if sub.group(3) is not None else value

    return _VAR.sub(one, text)
