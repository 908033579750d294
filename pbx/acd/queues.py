"""One queue's live state: its settings, its waiting callers in rank order, the agents who may be
offered its calls right now, and its counters.

Rank (lower goes first), the one ordering rule of the engine (docs/acd.md):
    (urgent queue first, higher queue + caller priority first, longer waiting first, arrival order)
"Waiting" counts from the caller's first queue entry, so the rank compares across queues: when an
agent who serves several queues frees up, the best-ranked caller of all those queues is theirs.

`heap` holds the callers waiting for an agent (no offer ringing, not resting after a missed
round), with lazy deletion by token; `ranks` is every waiting caller's rank, sorted, for positions.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field

from pbx.acd.model import Waiting
from pbx.acd.strategies import Candidate, Memory, Strategy, strategy
from pbx.config.models import Queue

Rank = tuple[int, int, float, int]


@dataclass
class Counters:
    entered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    overflowed: int = 0
    offers: int = 0
    no_answer: int = 0
    declined: int = 0
    wait_total: float = 0.0  # over answered callers


@dataclass
class MemberTally:
    calls: int = 0
    talk_time: float = 0.0


@dataclass
class QueueState:
    cfg: Queue
    strategy: Strategy
    memory: Memory
    order: dict[str, int]  # member -> position in the member list
    waiting: dict[str, Waiting] = field(default_factory=dict)
    heap: list[tuple[Rank, int, str]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)  # call_id -> token of its live heap entry
    ranks: list[Rank] = field(default_factory=list)
    eligible: set[str] = field(default_factory=set)
    counters: Counters = field(default_factory=Counters)
    tally: dict[str, MemberTally] = field(default_factory=dict)
    handle_time: float | None = None  # moving average of talk + wrap-up, for expected waits
    candidates: dict[str, Candidate] = field(default_factory=dict)  # engine's cache, see _candidates
    _token: int = 0

    @classmethod
    def from_config(cls, cfg: Queue) -> QueueState:
        return cls(
            cfg=cfg,
            strategy=strategy(cfg.strategy),
            memory=Memory(members=cfg.members),
            order={m: i for i, m in enumerate(cfg.members)},
        )

    def reconfigure(self, cfg: Queue) -> None:
        if cfg.strategy != self.cfg.strategy:
            self.strategy = strategy(cfg.strategy)
        self.cfg = cfg
        self.candidates.clear()
        self.memory.members = cfg.members
        self.order = {m: i for i, m in enumerate(cfg.members)}
        for w in self.waiting.values():  # a new queue priority re-ranks who waits
            self._forget_rank(w)
            w.rank = self.rank_of(w)
            bisect.insort(self.ranks, w.rank)
            if w.call_id in self.tokens:
                self.push(w)

    def penalty(self, agent: str) -> int:
        return self.cfg.penalties.get(agent, 0)

    def rank_of(self, w: Waiting) -> Rank:
        return (0 if self.cfg.urgent else 1, -(self.cfg.priority + w.priority), w.since, w.seq)

    def add(self, w: Waiting) -> None:
        w.rank = self.rank_of(w)
        self.waiting[w.call_id] = w
        bisect.insort(self.ranks, w.rank)
        self.push(w)

    def remove(self, w: Waiting) -> None:
        self.waiting.pop(w.call_id, None)
        self.tokens.pop(w.call_id, None)
        self._forget_rank(w)

    def _forget_rank(self, w: Waiting) -> None:
        i = bisect.bisect_left(self.ranks, w.rank)
        if i < len(self.ranks) and self.ranks[i] == w.rank:
            del self.ranks[i]

    def position(self, w: Waiting) -> int:
        return bisect.bisect_left(self.ranks, w.rank) + 1

    def push(self, w: Waiting) -> None:
        """The caller waits for an agent (again)."""
        self._token += 1
        self.tokens[w.call_id] = self._token
        heapq.heappush(self.heap, (w.rank, self._token, w.call_id))

    def unpush(self, w: Waiting) -> None:
        self.tokens.pop(w.call_id, None)

    def head(self) -> Waiting | None:
        while self.heap:
            _, token, call_id = self.heap[0]
            if self.tokens.get(call_id) == token:
                return self.waiting[call_id]
            heapq.heappop(self.heap)
        return None

    def pop(self) -> Waiting:
        _, _, call_id = heapq.heappop(self.heap)
        del self.tokens[call_id]
        return self.waiting[call_id]

    def longest_wait(self, now: float) -> float:
        return max((now - w.entered for w in self.waiting.values()), default=0.0)
