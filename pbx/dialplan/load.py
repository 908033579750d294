"""`dialplans/*.yaml` -> `Dialplan`, or a `ConfigError` listing every problem as `file:line: message`.

Same machinery as pbx.config.load, reused rather than copied: each file is composed into a node
tree (lines kept), every top-level key is a context (which may appear in one file only), pydantic
validates all contexts in one go with a `RuleContext` (the system config and the context names) so
that references to unknown users, queues, trunks and contexts are errors located at the value, and
each error's loc (`("default", 3, "ring_user")`) is walked back down the node tree to a line.
Checks that start from the system config (a user's context that no dialplan defines) have no line
in a dialplan file and are reported against the directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from pbx.config import Config, ConfigError, Problem
from pbx.config.load import _by_place, _explain, _line, _place, _Section, read_sections
from pbx.dialplan.model import DEFAULT_VARIABLE, Rule, RuleContext
from pbx.dialplan.router import CompiledRule, Dialplan

_CONTEXT_NAME = re.compile(r"[A-Za-z0-9_.:+-]+")
_ADAPTER: TypeAdapter[dict[str, tuple[Rule, ...]]] = TypeAdapter(dict[str, tuple[Rule, ...]])


def load_dialplans(dialplan_dir: Path, config: Config) -> Dialplan:
    """Read and validate every `*.yaml` file in `dialplan_dir` against `config`."""
    where = str(dialplan_dir)
    if not dialplan_dir.is_dir():
        reason = "is not a directory" if dialplan_dir.exists() else "does not exist"
        raise ConfigError([Problem(where, 0, f"dialplan directory {reason}")])

    problems: list[Problem] = []
    sections, fatal = read_sections(
        sorted(dialplan_dir.glob("*.yaml")), problems, what="context",
        file_shape="the file must map context names to lists of rules",
        valid_name=lambda name: _CONTEXT_NAME.fullmatch(name) is not None,
        bad_name="not a context name (use letters, digits and . _ - : +)",
    )  # fmt: skip
    if fatal:
        raise ConfigError(_by_place(problems))

    names = frozenset(sections)
    merged = {name: s.data if s.data is not None else [] for name, s in sections.items()}
    parsed: dict[str, tuple[Rule, ...]] = {}
    try:
        parsed = _ADAPTER.validate_python(merged, context=RuleContext(config, names, _variables(merged)))
    except ValidationError as exc:
        for error in exc.errors():
            for loc, message in _explain(error):
                problems.append(_place(where, sections, loc, message, error["type"]))
    problems += _config_references(where, config, sections)
    if problems:
        raise ConfigError(_by_place(problems))

    contexts: dict[str, tuple[CompiledRule, ...]] = {}
    for name, rules in parsed.items():
        section = sections[name]
        items = section.value.value if isinstance(section.value, yaml.SequenceNode) else []
        contexts[name] = tuple(
            CompiledRule(name, i + 1, f"{section.file}:{_line(items[i])}", rule, rule.match.matcher())
            for i, rule in enumerate(rules)
        )
    return Dialplan(contexts, config)


def _variables(merged: dict[str, Any]) -> frozenset[str]:
    """The call variables `collect` actions set, anywhere in the plan: a rule may use one that a
    rule in another context fills in (its own shape is checked by the model)."""
    names = {DEFAULT_VARIABLE}
    for rules in merged.values():
        for rule in rules if isinstance(rules, list) else []:
            spec = rule.get("collect") if isinstance(rule, dict) else None
            if isinstance(spec, dict) and isinstance(spec.get("variable"), str):
                names.add(spec["variable"])
    return frozenset(names)


def _config_references(where: str, config: Config, sections: dict[str, _Section]) -> list[Problem]:
    problems = []
    for user in config.users:
        if user.context not in sections:
            message = f"user {user.extension} has context '{user.context}', which no dialplan defines"
            problems.append(Problem(where, 0, message))
    for device in config.devices:
        if device.context is not None and device.context not in sections:
            message = f"device {device.username} has context '{device.context}', which no dialplan defines"
            problems.append(Problem(where, 0, message))
    groups = {g for user in config.users for g in user.groups}
    trunks = {t.name for t in config.trunks}
    for name, section in sections.items():
        kind, _, rest = name.partition(":")
        if kind == "group" and rest not in groups:
            problems.append(
                Problem(section.file, _line(section.key), f"{name}: no user is in group '{rest}'")
            )
        if kind == "from-trunk" and rest and rest not in trunks:
            problems.append(Problem(section.file, _line(section.key), f"{name}: unknown trunk '{rest}'"))
    return problems


def default_dialplan_dir(config_dir: Path) -> Path:
    """`dialplans/` next to the config directory (`config/` and `dialplans/` in the repo)."""
    return config_dir.resolve().parent / "dialplans"


def load_optional_dialplans(dialplan_dir: Path, config: Config) -> Dialplan | None:
    """The dialplans, or None when the directory does not exist: then the built-in routing
    applies (a user's extension rings that user; a trunk's prefixes go out through it)."""
    if not dialplan_dir.exists():
        return None
    return load_dialplans(dialplan_dir, config)
