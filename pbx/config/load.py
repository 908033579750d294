"""YAML files -> `Config`, or a `ConfigError` listing every problem as `file:line: message`.

How it works: each `*.yaml` file in the config directory (sorted by name) is composed into a node
tree, which keeps the line of every key and value, and then constructed into plain Python data.
Each top-level key is a section and may appear in only one file. The merged sections are validated
by pydantic in one go, which reports every field error at once. Each error's `loc` (for example
`("users", 3, "pin")`) is walked back down the node tree of the file that holds the section, to
find the line to blame: the key for an unknown key, the deepest existing mapping for a missing
field, the value otherwise. Checks between sections (models.cross_references) run only once all
sections are valid, as with any pydantic after-validator, so they never report noise caused by an
earlier error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from pbx.config.models import Config, Loc

try:  # libyaml's parser is ~10x faster (thousands of users); same safe semantics and marks
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

_INT = "tag:yaml.org,2002:int"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"  # 2026-13-01 would crash the constructor; dates stay text


class _Loader(_SafeLoader):
    """SafeLoader that reads only plain decimals as integers.

    YAML 1.1 would turn `pin: 0123` into the octal 83 and `+31534800900` into an int without its
    '+'; here those stay text, and models.PbxModel turns real numbers into strings where a
    string is wanted, so `extension: 201` needs no quotes.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT, _TIMESTAMP)]
        for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(_INT, re.compile(r"^-?(?:0|[1-9][0-9]*)$"), list("-0123456789"))


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when the problem is about the directory, not a place in a file
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(map(str, self.problems)))


@dataclass(frozen=True)
class _Section:
    file: str
    key: yaml.Node
    value: yaml.Node
    data: Any


def load_config(config_dir: Path) -> Config:
    """Read and validate every `*.yaml` file in `config_dir`; raise ConfigError on any problem."""
    where = str(config_dir)
    if not config_dir.is_dir():
        reason = "is not a directory" if config_dir.exists() else "does not exist"
        raise ConfigError([Problem(where, 0, f"config directory {reason}")])
    paths = sorted(config_dir.glob("*.yaml"))
    if not paths:
        raise ConfigError([Problem(where, 0, "no .yaml files in the config directory")])

    problems: list[Problem] = []
    sections, fatal = read_sections(
        paths, problems, what="section", file_shape="the file must be a mapping of section names"
    )
    if fatal:
        raise ConfigError(_by_place(problems))

    # An empty section (`users:` with every entry commented out) means "use the defaults".
    merged = {name: s.data for name, s in sections.items() if s.data is not None}
    try:
        config = Config.model_validate(merged)
    except ValidationError as exc:
        for error in exc.errors():
            for loc, message in _explain(error):
                problems.append(_place(where, sections, loc, message, error["type"]))
    if problems:
        raise ConfigError(_by_place(problems))
    return config


def read_sections(
    paths: list[Path],
    problems: list[Problem],
    *,
    what: str,
    file_shape: str,
    valid_name: Callable[[str], bool] = lambda _: True,
    bad_name: str = "unknown section",
) -> tuple[dict[str, _Section], bool]:
    """Every top-level key of every file, with its node (for lines) and data; each may be defined in
    one file only. Problems are appended; True means a file was unusable (validating the rest would
    only add noise). Shared by the config and the dialplan loaders."""
    sections: dict[str, _Section] = {}
    fatal = False
    for path in paths:
        file = str(path)
        try:
            root, data = _read(path)
        except _Unreadable as exc:
            problems.append(exc.problem)
            fatal = True
            continue
        if root is None:  # empty file, or only comments
            continue
        _find_duplicate_keys(file, root, problems)
        if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
            problems.append(Problem(file, _line(root), file_shape))
            fatal = True
            continue
        for key, value in root.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            # `1:` or `[a]:` would not reach pydantic as a key
            if name is None or name not in data or not valid_name(name):
                problems.append(Problem(file, _line(key), f"{name or '?'}: {bad_name}"))
                continue
            if name in sections and sections[name].file != file:
                first = sections[name]
                message = f"{name}: {what} already defined at {first.file}:{_line(first.key)}"
                problems.append(Problem(file, _line(key), message))
                continue
            sections[name] = _Section(file, key, value, data[name])
    return sections, fatal


def _by_place(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line))  # stable: same line keeps pydantic's order


class _Unreadable(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _read(path: Path) -> tuple[yaml.Node | None, Any]:
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _Unreadable(Problem(file, 0, f"cannot read: {exc.strerror}")) from None
    loader = _Loader(raw)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem}"
        if exc.context:  # e.g. "while parsing a flow sequence": say where that began
            started = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            message += f" ({exc.context}{started})"
        raise _Unreadable(Problem(file, mark.line + 1 if mark else 1, message)) from None
    except yaml.reader.ReaderError as exc:  # bad encoding or a control character
        line = raw[: exc.position].count(b"\n") + 1
        raise _Unreadable(Problem(file, line, f"invalid YAML: {exc.reason}")) from None
    finally:
        loader.dispose()


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _find_duplicate_keys(file: str, node: yaml.Node, problems: list[Problem]) -> None:
    """YAML silently keeps the last of two equal keys; a config file should say so instead."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    message = f"duplicate key '{key.value}' (first at line {_line(seen[key.value])})"
                    problems.append(Problem(file, _line(key), message))
                seen.setdefault(key.value, key)
            _find_duplicate_keys(file, value, problems)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _find_duplicate_keys(file, item, problems)


# pydantic error type -> plain-words message; {value} is the offending input, the rest is ctx.
_MESSAGES = {
    "int_parsing": "{value} is not a whole number",
    "int_type": "{value} is not a whole number",
    "int_from_float": "{value} is not a whole number",
    "float_parsing": "{value} is not a number",
    "float_type": "{value} is not a number",
    "bool_parsing": "{value} is not true or false",
    "bool_type": "{value} is not true or false",
    "string_type": "{value} is not text",
    "literal_error": "{value} is not one of {expected}",
    "greater_than_equal": "{value} is too small (minimum {ge})",
    "greater_than": "{value} is too small (must be above {gt})",
    "less_than_equal": "{value} is too large (maximum {le})",
    "string_too_short": "{value} is too short (at least {min_length} characters)",
    "tuple_type": "should be a list",
    "list_type": "should be a list",
    "model_type": "should be a mapping of keys to values",
    "model_attributes_type": "should be a mapping of keys to values",
    "dict_type": "should be a mapping of keys to values",
}
_SECRET_FIELDS = {"secret", "token", "password"}  # never echo these into logs


def _explain(error: ErrorDetails) -> list[tuple[Loc, str]]:
    """One pydantic error -> (loc, plain-words message) pairs (a "pbx" error carries several)."""
    loc: Loc = tuple(error["loc"])
    ctx = error.get("ctx", {})
    kind = error["type"]
    if kind == "pbx":
        return [(loc + sub, message) for sub, message in ctx["issues"]]
    if kind == "missing":
        what = "section is missing or empty" if len(loc) == 1 else "field is missing"
        return [(loc, f"required {what}")]
    if kind in ("extra_forbidden", "invalid_key"):
        loc = (*loc[:-1], str(loc[-1]))  # an invalid key is a name, not a list index
        return [(loc, "unknown section" if len(loc) == 1 else "unknown key")]
    if kind == "value_error":
        return [(loc, str(ctx["error"]))]
    if kind in _MESSAGES:
        value = "the value" if loc and loc[-1] in _SECRET_FIELDS else repr(error["input"])
        return [(loc, _MESSAGES[kind].format(value=value, **ctx))]
    return [(loc, error["msg"])]


def _place(where: str, sections: dict[str, _Section], loc: Loc, message: str, kind: str) -> Problem:
    path = _path(loc)
    text = f"{path}: {message}" if path else message
    section = sections.get(str(loc[0])) if loc else None
    if section is None:  # a required section that no file has
        return Problem(where, 0, text)
    key: yaml.Node | None = section.key
    node = section.value
    for part in loc[1:]:
        child = _child(node, part)
        if child is None:
            break  # missing field: blame the mapping that lacks it
        key, node = child
    else:
        if kind in ("extra_forbidden", "invalid_key") and key is not None:
            return Problem(section.file, _line(key), text)
    return Problem(section.file, _line(node), text)


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in reversed(node.value):  # the last of duplicate keys wins, as in YAML
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def _path(loc: Loc) -> str:
    """("users", 3, "pin") -> "users[3].pin"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
