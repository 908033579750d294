"""`pbx explain` and `GET /api/dialplan/explain`: route without placing a call, and say why.

`explain(plan, dialled, wall, caller)` picks the caller's contexts the way a real call would and
routes; `render_text` and `render_json` turn the Decision into lines for people or a JSON-ready
dict for programs. Both are pure, so the CLI and the HTTP route share them.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Any

from pbx.dialplan.model import (
    DAY_NAMES,
    Action,
    Announcement,
    Collect,
    Feature,
    Ivr,
    NumberEntry,
    PlayPrompts,
    Reject,
    RingDevice,
    RingQueue,
    RingUser,
    Say,
    ToTrunk,
)
from pbx.dialplan.router import Decision, Dialplan, Step

_TYPES: dict[type, str] = {
    RingUser: "ring_user",
    RingDevice: "ring_device",
    RingQueue: "ring_queue",
    Feature: "feature",
    Announcement: "announcement",
    Ivr: "ivr",
    NumberEntry: "number_entry",
    PlayPrompts: "play",
    Collect: "collect",
    ToTrunk: "trunk",
    Reject: "reject",
}


def explain(
    plan: Dialplan, dialled: str, wall: datetime, caller: str | None = None, context: str | None = None
) -> Decision:
    """Route `dialled` as `caller` (a user extension or device name) would; `context` overrides."""
    if context is not None:
        contexts: tuple[str, ...] = (context,)
    elif caller is not None and plan.config.user(caller) is not None:
        contexts = plan.contexts_for(user=caller)
    elif caller is not None and plan.config.device(caller) is not None:
        contexts = plan.contexts_for(device=caller)
    else:
        contexts = ("default",)
    return plan.route(dialled, contexts, wall, caller)


def parse_at(text: str) -> datetime:
    """`2026-11-22 18:05` (local time as each rule's time zone sees it) or with an offset/`Z`."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time like '2026-11-22 18:05' or '2026-11-22T18:05+01:00'"
        ) from None


def describe(plan: Dialplan, action: Action) -> str:
    """One line, in words: what the PBX would do."""
    cfg = plan.config
    match action:
        case RingUser(ext):
            user = cfg.user(ext)
            return f"ring user {ext}" + (f" ({user.name})" if user is not None and user.name else "")
        case RingDevice(name):
            return f"ring device {name}"
        case RingQueue(name):
            queue = cfg.queue(name)
            return f"ring queue {name}" + (f" ({queue.number})" if queue is not None else "")
        case Feature(name, args):
            return f"run feature {name}" + (f" with {', '.join(args)}" if args else "")
        case Announcement(name):
            return f"play announcement {name}"
        case Ivr(prompt, options):
            choices = ", ".join(f"{digit} -> {target}" for digit, target in options)
            return f"play IVR prompt {prompt}" + (f"; {choices}" if choices else "")
        case NumberEntry(prompt, lo, hi, validator, _pattern, nxt):
            digits = f"{lo}" if lo == hi else f"{lo}-{hi}"
            check = "" if validator == "none" else f", checked by {validator}"
            then = f", then continue in {nxt}" if nxt else ", then hang up"
            return f"ask for a number ({digits} digits{check}) with prompt {prompt}{then}"
        case PlayPrompts(prompts, _interruptible, nxt):
            then = f", then continue in {nxt}" if nxt else ", then hang up"
            return f"play {', '.join(prompts)}{then}"
        case Collect() as c:
            return _describe_collect(c)
        case Say(how, value, _interruptible, nxt):
            then = f", then continue in {nxt}" if nxt else ", then hang up"
            said = value if value else "nothing (the value is empty now)"
            return f"say {'digits' if how == 'digits' else 'number'} {said}{then}"
        case ToTrunk(trunk, number):
            return f"send to trunk {trunk} as {number}"
        case Reject(status, reason):
            return f"reject with {status} {reason}"
    raise AssertionError(action)  # pragma: no cover - the match is exhaustive


def _describe_collect(c: Collect) -> str:
    digits = f"{c.min_digits}" if c.min_digits == c.max_digits else f"{c.min_digits}-{c.max_digits}"
    ends = f"{c.terminator} ends early, " if c.terminator else ""
    tries = f"{c.tries} tr{'ies' if c.tries != 1 else 'y'}"
    failed = f"continue in {c.failed}" if c.failed else "hang up"
    return (
        f"collect {digits} digits with prompt {c.prompt} ({ends}first key within {c.first_timeout:g} s, "
        f"then {c.inter_timeout:g} s between keys, {tries}) into ${{{c.variable}}}, "
        f"then route them in {c.next}; if no entry is good: {failed}"
    )


def _who(plan: Dialplan, caller: str | None) -> str:
    if caller is None:
        return "a caller"
    user = plan.config.user(caller)
    return f"{caller} ({user.name})" if user is not None and user.name else caller


def _step_line(step: Step) -> str:
    why = "; ".join(step.why)
    if step.rule == 0:
        return f"  {step.context}: {step.outcome}: {why}" if step.context else f"  {step.outcome}: {why}"
    name = f' "{step.name}"' if step.name else ""
    return f"  {step.context} rule {step.rule}{name} ({step.where}): {step.outcome}: {why}"


def render_text(plan: Dialplan, decision: Decision) -> str:
    d = decision
    at = f"{DAY_NAMES[d.wall.weekday()]} {d.wall:%Y-%m-%d %H:%M}"
    if d.wall.tzinfo is not None:
        at += " " + (d.wall.tzname() or d.wall.strftime("%z"))
    lines = [f"{_who(plan, d.caller)} dials {d.dialled} at {at}"]
    if d.emergency:
        lines.append(f"{d.dialled} is an emergency number")
    lines.append(f"contexts: {' -> '.join(d.contexts) or '(none)'}")
    # consecutive plain mismatches in one context make one line here; JSON keeps each
    for (ctx, miss), group in groupby(d.trail, key=lambda s: (s.context, s.outcome == "no match")):
        steps = list(group)
        if miss:
            numbers = ", ".join(str(s.rule) for s in steps)
            lines.append(f"  {ctx}: no match in rule{'s' if len(steps) > 1 else ''} {numbers}")
        else:
            lines += [_step_line(s) for s in steps]
    if d.omitted:
        lines.append(f"  ({d.omitted} more rule{'s' if d.omitted != 1 else ''} did not match)")
    lines.append(f"=> {describe(plan, d.action)}")
    return "\n".join(lines) + "\n"


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "context": step.context,
        "rule": step.rule or None,
        "name": step.name or None,
        "where": step.where or None,
        "outcome": step.outcome,
        "why": list(step.why),
    }


def action_json(action: Action) -> dict[str, Any]:
    kind = f"say_{action.how}" if isinstance(action, Say) else _TYPES[type(action)]
    out: dict[str, Any] = {"type": kind}
    for key, value in vars(action).items():
        if isinstance(value, tuple):
            value = dict(value) if key == "options" else list(value)
        out[key] = value
    return out


def render_json(plan: Dialplan, decision: Decision) -> dict[str, Any]:
    d = decision
    return {
        "from": d.caller,
        "dialled": d.dialled,
        "at": d.wall.isoformat(),
        "emergency": d.emergency,
        "contexts": list(d.contexts),
        "action": action_json(d.action),
        "summary": describe(plan, d.action),
        "rule": _step_json(d.rule) if d.rule is not None else None,
        "trail": [_step_json(s) for s in d.trail],
        "omitted": d.omitted,
    }
