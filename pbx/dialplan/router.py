"""Routing: (dialled string, contexts, wall-clock time) -> Decision, with the reasons why.

How it works. The router tries the given contexts in order (a caller's group contexts, then the
user's own context: see `Dialplan.contexts_for`). Within a context the rules are tried top to
bottom and the first rule that matches, whose `when` conditions all hold and whose target exists
(a `${EXTEN}` template may name a user that does not), decides. `goto` jumps to another context
and routing continues there; more than MAX_GOTO jumps is a loop and gives 482. When no rule
decides in any context: 484 Address Incomplete if some rule (whose conditions hold now) could
still match after more digits, else 404. Emergency numbers always route: if the plan rejects them,
they go to the first trunk whose prefixes fit, else the first trunk.

Everything is pure: the time of day comes in as `wall` (a naive `wall` is read as local time in
each rule's time zone; an aware one is converted to it). Each step is recorded for `explain`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from pbx.config import Config
from pbx.dialplan.model import (
    DAY_NAMES,
    FEATURE_ARGS,
    REASONS,
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
    Rule,
    Say,
    ToTrunk,
    When,
    find_queue,
)
from pbx.dialplan.patterns import Matcher, Regex, expand

MAX_GOTO = 10
MAX_MISMATCHES = 5  # rules that simply did not match, listed in a trail before counting the rest
TRUNK_CONTEXT = "from-trunk"  # calls from a trunk start here (or in from-trunk:<trunk name>)


@dataclass(frozen=True)
class CompiledRule:
    context: str
    number: int  # 1-based position in its context
    where: str  # file:line
    spec: Rule
    matcher: Matcher


# matched: decided; goto: jumped; skipped: matched but a condition or the target failed;
# no match; note: about a context or the dial string; emergency: the emergency override.
Outcome = Literal["matched", "goto", "skipped", "no match", "note", "emergency"]


@dataclass(frozen=True)
class Step:
    """One line of the explanation trail."""

    context: str
    rule: int  # 1-based; 0 for a note about the context itself
    where: str
    outcome: Outcome
    why: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True)
class Decision:
    dialled: str
    action: Action
    rule: Step | None  # the rule that decided; None for no route, 484, loops and emergency fallback
    trail: tuple[Step, ...]
    contexts: tuple[str, ...]  # every context entered, in order
    omitted: int  # "no match" steps left out of the trail
    emergency: bool
    wall: datetime
    caller: str | None = None


@dataclass
class _Trail:
    steps: list[Step] = field(default_factory=list)
    omitted: int = 0
    mismatches: int = 0

    def add(self, rule: CompiledRule, outcome: Outcome, why: list[str]) -> Step:
        step = Step(rule.context, rule.number, rule.where, outcome, tuple(why), rule.spec.name)
        if outcome == "no match":
            self.mismatches += 1
            if self.mismatches > MAX_MISMATCHES:
                self.omitted += 1
                return step
        self.steps.append(step)
        return step


@dataclass(frozen=True, eq=False)
class Dialplan:
    """Validated, compiled dialplans; build with `pbx.dialplan.load_dialplans`."""

    contexts: Mapping[str, tuple[CompiledRule, ...]]
    config: Config

    def is_emergency(self, dialled: str) -> bool:
        return dialled in self.config.emergency_numbers

    def contexts_for(self, user: str | None = None, device: str | None = None) -> tuple[str, ...]:
        """Contexts for a caller: the device's own context, else the user's `group:<name>` contexts
        that exist (in the order of the user's groups) and then the user's context."""
        dev = self.config.device(device) if device is not None else None
        if dev is not None and dev.context is not None:
            return (dev.context,)
        usr = self.config.user(user) if user is not None else None
        if usr is None and dev is not None and dev.user is not None:
            usr = self.config.user(dev.user)
        if usr is None:
            return ("default",)
        groups = tuple(f"group:{g}" for g in usr.groups if f"group:{g}" in self.contexts)
        return (*groups, usr.context)

    def contexts_for_trunk(self, trunk: str) -> tuple[str, ...]:
        own = f"{TRUNK_CONTEXT}:{trunk}"
        return (own,) if own in self.contexts else (TRUNK_CONTEXT,)

    def route(
        self,
        dialled: str,
        context: str | Sequence[str],
        wall: datetime,
        caller: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Decision:
        return route(self, dialled, context, wall, caller, variables)


def route(
    plan: Dialplan,
    dialled: str,
    context: str | Sequence[str],
    wall: datetime,
    caller: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> Decision:
    """`variables`: the call's variables (${CALLERID}, what a collect stored); CALLERID defaults
    to `caller`."""
    values = {"CALLERID": caller or "", **(variables or {})}
    starts = (context,) if isinstance(context, str) else tuple(context)
    trail = _Trail()
    entered: list[str] = []
    decided: tuple[Action, Step | None] | None = None
    jumps = 0
    for start in starts:
        ctx: str | None = start
        while ctx is not None and decided is None:
            entered.append(ctx)
            if ctx not in plan.contexts:
                trail.steps.append(Step(ctx, 0, "", "note", (f"context {ctx} does not exist",)))
                break
            hit = _first_rule(plan, ctx, dialled, wall, trail, values)
            if hit is None:
                break
            rule, action, why = hit
            if action is not None:
                decided = (action, trail.add(rule, "matched", why))
                break
            jumps += 1
            trail.add(rule, "goto", [*why, f"goto {rule.spec.goto}"])
            if jumps > MAX_GOTO:
                note = f"more than {MAX_GOTO} goto jumps: a loop in the dialplan"
                trail.steps.append(Step(ctx, 0, "", "note", (note,)))
                decided = (Reject(482, "dialplan loop"), None)
            ctx = rule.spec.goto
        if decided is not None:
            break

    if decided is None:
        incomplete = _incomplete(plan, entered, dialled, wall)
        if incomplete is not None:
            trail.steps.append(
                Step(incomplete.context, incomplete.number, incomplete.where, "note",
                     (f"{dialled} could still match {incomplete.matcher.text} with more digits",),
                     incomplete.spec.name)
            )  # fmt: skip
            decided = (Reject(484, "address incomplete"), None)
        else:
            decided = (Reject(404, "no route"), None)

    action, step = decided
    emergency = plan.is_emergency(dialled)
    if emergency and isinstance(action, Reject):
        action, note = _emergency_route(plan.config, dialled, action)
        trail.steps.append(Step(entered[-1] if entered else "", 0, "", "emergency", (note,)))
        step = None
    return Decision(
        dialled=dialled,
        action=action,
        rule=step,
        trail=tuple(trail.steps),
        contexts=tuple(entered),
        omitted=trail.omitted,
        emergency=emergency,
        wall=wall,
        caller=caller,
    )


def _first_rule(
    plan: Dialplan, ctx: str, dialled: str, wall: datetime, trail: _Trail, variables: Mapping[str, str]
) -> tuple[CompiledRule, Action | None, list[str]] | None:
    """The first rule that decides (action) or jumps (None action) in one context."""
    for rule in plan.contexts[ctx]:
        groups = rule.matcher.match(dialled)
        if groups is None:
            trail.add(rule, "no match", [f"{rule.matcher.text} does not match"])
            continue
        why = [f"{rule.matcher.text} matched"]
        if rule.spec.when is not None:
            holds, reasons = check_when(rule.spec.when, wall)
            why += reasons
            if not holds:
                trail.add(rule, "skipped", why)
                continue
        if rule.spec.goto is not None:
            return rule, None, why
        action, problem = _resolve(plan.config, rule, dialled, groups, variables)
        if action is None:
            trail.add(rule, "skipped", [*why, problem])
            continue
        return rule, action, why
    return None


def _resolve(
    cfg: Config, rule: CompiledRule, dialled: str, groups: tuple[str, ...], variables: Mapping[str, str]
) -> tuple[Action | None, str]:
    """The rule's action with variables filled in, or None and why it cannot be used."""
    spec = rule.spec

    def fill(text: str) -> str:
        return expand(text, dialled, groups, variables)

    if spec.ring_user is not None:
        ext = fill(spec.ring_user)
        return (RingUser(ext), "") if cfg.user(ext) is not None else (None, f"no user {ext!r}")
    if spec.ring_device is not None:
        name = fill(spec.ring_device)
        return (RingDevice(name), "") if cfg.device(name) is not None else (None, f"no device {name!r}")
    if spec.ring_queue is not None:
        wanted = fill(spec.ring_queue)
        queue = find_queue(cfg, wanted)
        return (RingQueue(queue), "") if queue is not None else (None, f"no queue {wanted!r}")
    if spec.feature is not None:
        return _feature(spec.feature, rule.matcher, dialled, groups)
    if spec.announcement is not None:
        return Announcement(fill(spec.announcement)), ""
    if spec.ivr is not None:
        return Ivr(spec.ivr.prompt, tuple(sorted(spec.ivr.options.items()))), ""
    if spec.play is not None:
        return PlayPrompts(spec.play.prompts, spec.play.interruptible, spec.play.next), ""
    if spec.number_entry is not None:
        ne = spec.number_entry
        return NumberEntry(ne.prompt, ne.min, ne.max, ne.validator, ne.pattern, ne.next), ""
    if spec.collect is not None:
        c = spec.collect
        return Collect(c.prompt, c.min, c.max, c.first_timeout, c.inter_timeout, c.terminator, c.tries,
                       c.retry_prompt, c.variable, c.next, c.failed), ""  # fmt: skip
    if spec.say_digits is not None:
        sd = spec.say_digits
        return Say("digits", fill(sd.value), sd.interruptible, sd.next), ""
    if spec.say_number is not None:
        sn = spec.say_number
        return Say("number", fill(sn.value), sn.interruptible, sn.next), ""
    if spec.trunk is not None:
        number = spec.trunk.prepend + fill(spec.trunk.number)[spec.trunk.strip :]
        if number == spec.trunk.prepend:
            return None, f"nothing left of {dialled} to send to trunk {spec.trunk.name}"
        return ToTrunk(spec.trunk.name, number), ""
    assert spec.reject is not None  # the model guarantees exactly one action (goto handled earlier)
    return Reject(spec.reject, REASONS.get(spec.reject, "Rejected")), ""


def _feature(name: str, matcher: Matcher, dialled: str, groups: tuple[str, ...]) -> tuple[Action | None, str]:
    """Arguments: a regex's non-empty groups; otherwise what follows the match's fixed part,
    split on '*' (`*35*203*2033` after `*35` -> 203, 2033; `*8203` after `*8` -> 203)."""
    if isinstance(matcher, Regex):
        args = tuple(g for g in groups if g)
    else:
        rest = dialled[len(matcher.literal) :]
        args = tuple(rest.removeprefix("*").split("*")) if rest else ()
    low, high = FEATURE_ARGS[name]
    if not low <= len(args) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        return None, f"{name} takes {want} argument{'s' if high != 1 else ''}, got {len(args)}"
    bad = next((a for a in args if not a.isdigit()), None)
    if bad is not None:
        return None, f"{name} argument {bad!r} is not digits"
    return Feature(name, args), ""


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def check_when(when: When, wall: datetime) -> tuple[bool, list[str]]:
    """Whether all conditions hold at `wall`, and one reason per condition."""
    if when.timezone is not None:
        local = wall.astimezone(_zone(when.timezone)) if wall.tzinfo is not None else wall
        zone = when.timezone
    else:
        local, zone = wall, (wall.tzname() or "local time")
    day = DAY_NAMES[local.weekday()]
    ok = True
    reasons: list[str] = []
    if when.time is not None:
        holds = when.time.holds(local.hour * 60 + local.minute)
        verb = "holds" if holds else "does not hold"
        reasons.append(f"time {when.time.text} {verb} at {local:%H:%M} {zone} {day}")
        ok &= holds
    if when.weekdays is not None:
        holds = any(local.weekday() in span.days for span in when.weekdays)
        verb = "include" if holds else "do not include"
        reasons.append(f"weekdays {', '.join(s.text for s in when.weekdays)} {verb} {day}")
        ok &= holds
    if when.dates is not None:
        today = local.date()
        holds = any(span.first <= today <= span.last for span in when.dates)
        verb = "include" if holds else "do not include"
        reasons.append(f"dates {', '.join(s.text for s in when.dates)} {verb} {today.isoformat()}")
        ok &= holds
    return ok, reasons


def _incomplete(plan: Dialplan, entered: list[str], dialled: str, wall: datetime) -> CompiledRule | None:
    """A rule (whose conditions hold now) that does not match yet but would after more digits.
    A rule that matched and was skipped (no such user, wrong arguments) never makes 484."""
    for ctx in dict.fromkeys(entered):
        for rule in plan.contexts.get(ctx, ()):
            m = rule.matcher
            if (
                m.match(dialled) is None
                and m.could_extend(dialled)
                and (rule.spec.when is None or check_when(rule.spec.when, wall)[0])
            ):
                return rule
    return None


def _emergency_route(cfg: Config, dialled: str, rejected: Reject) -> tuple[Action, str]:
    why = f"{dialled} is an emergency number and must always route (the dialplan gave {rejected.status})"
    fitting = [t for t in cfg.trunks if any(p and dialled.startswith(p) for p in t.prefixes)]
    trunks = fitting or list(cfg.trunks)
    if not trunks:
        return Reject(503, "no trunk for emergency number"), f"{why}, but no trunk is configured"
    return ToTrunk(trunks[0].name, dialled), f"{why}: sent to trunk {trunks[0].name}"
