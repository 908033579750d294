"""Ring strategies in a name -> factory registry (aioquic's congestion-control pattern).

A strategy only orders agents: `pick(candidates, memory, rng)` returns the agents to ring, best
first. The engine has already filtered the candidates (logged in, available, reachable, idle,
lowest penalty level present: Asterisk's penalty rule) and owns everything else. `width` says how
many of them ring at once; ring_progressive widens by one every `progressive_step` seconds.

The names are pbx.config.models.STRATEGIES; a name missing here is caught by a test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class Candidate(NamedTuple):  # a tuple, not a dataclass: a decision may build a thousand of them
    agent: str
    penalty: int
    order: int  # position in the queue's member list
    idle_since: float
    calls: int  # queue calls answered from this queue
    talk_time: float  # seconds talked on this queue's calls


@dataclass
class Memory:
    """What a strategy may remember per queue between decisions (round_robin's last agent)."""

    last: str | None = None
    members: Sequence[str] = field(default_factory=tuple)


class Strategy(Protocol):
    name: str
    by_level: bool  # only the lowest penalty level present is a candidate (Asterisk's rule)

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]: ...

    def width(self, ringing_for: float | None, step: int) -> int | None:
        """How many agents ring at once for a caller whose round began `ringing_for` seconds ago
        (None: not begun). None means all of them."""
        ...


class _One:
    name = ""
    by_level = True

    def width(self, ringing_for: float | None, step: int) -> int | None:
        return 1


class RingAll:
    name = "ringall"
    by_level = True

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]:
        return [c.agent for c in sorted(candidates, key=lambda c: c.order)]

    def width(self, ringing_for: float | None, step: int) -> int | None:
        return None


class LongestIdle(_One):
    name = "longest_idle"

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]:
        return [min(candidates, key=lambda c: (c.idle_since, c.order)).agent]


class RoundRobin(_One):
    """Asterisk's rrmemory: the next member after the one offered last, in member order."""

    name = "round_robin"

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]:
        ordered = sorted(candidates, key=lambda c: c.order)
        last = memory.members.index(memory.last) if memory.last in memory.members else -1
        after = [c for c in ordered if c.order > last]
        chosen = (after or ordered)[0].agent
        memory.last = chosen
        return [chosen]


class FewestCalls(_One):
    name = "fewest_calls"

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]:
        return [min(candidates, key=lambda c: (c.calls, c.idle_since, c.order)).agent]


class LeastTalkTime(_One):
    name = "least_talk_time"

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]:
        return [min(candidates, key=lambda c: (c.talk_time, c.idle_since, c.order)).agent]


class Random(_One):
    name = "random"

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]:
        # sorted first: the choice depends on the seed only, not on set iteration order
        return [rng.choice(sorted(candidates, key=lambda c: c.order)).agent]


class Linear(_One):
    name = "linear"

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]:
        return [min(candidates, key=lambda c: (c.penalty, c.order)).agent]


class RingProgressive:
    """FreeSWITCH's ring-progressively: the first agent, then one more every `step` seconds while
    the earlier ones keep ringing, in member order."""

    name = "ring_progressive"
    by_level = False  # escalating to higher penalty levels is the point of ringing progressively

    def pick(self, candidates: Sequence[Candidate], memory: Memory, rng: random.Random) -> list[str]:
        return [c.agent for c in sorted(candidates, key=lambda c: (c.penalty, c.order))]

    def width(self, ringing_for: float | None, step: int) -> int | None:
        return 1 if ringing_for is None else 1 + int(ringing_for // step)


_REGISTRY: dict[str, Callable[[], Strategy]] = {}


def register_strategy(name: str, factory: Callable[[], Strategy]) -> None:
    _REGISTRY[name] = factory


def strategy(name: str) -> Strategy:
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}") from None


def strategy_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


for _factory in (
    RingAll,
    LongestIdle,
    RoundRobin,
    FewestCalls,
    LeastTalkTime,
    Random,
    Linear,
    RingProgressive,
):
    register_strategy(_factory.name, _factory)
