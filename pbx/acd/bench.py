"""Routing decision benchmark (issue 7): 1,000 agents, 10,000 waiting callers.

    python -m pbx.acd.bench [--agents 1000] [--callers 10000] [--queues 10] [--rounds 300]

Every agent serves 3 of the queues and is on a call; the callers wait spread over the queues.
One decision = an agent's call ends (no wrap-up) and the engine picks the best-ranked caller of
all that agent's queues and offers it: the `handle(CallEnded)` step, timed. The second figure is a
caller joining a queue whose agents are all free, so the strategy looks at every one of them.
Not a test: the figures depend on the machine; docs/acd.md quotes them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from pbx.acd.effects import Offer
from pbx.acd.engine import AcdEngine
from pbx.acd.events import AgentReachability, CallEnded, CallerJoined, Login, OfferAnswered
from pbx.config.models import Config


def build(agents: int, queues: int, strategy: str) -> Config:
    exts = [str(10000 + i) for i in range(agents)]
    members: list[list[str]] = [[] for _ in range(queues)]
    for i, ext in enumerate(exts):
        for k in (0, 3, 7):
            members[(i + k) % queues].append(ext)
    data: dict[str, Any] = {
        "api": {"token": "x" * 16},
        "users": [{"extension": e, "hotdesk": False} for e in exts],
        "queues": [
            {"name": f"q{j}", "number": str(500 + j), "strategy": strategy, "members": sorted(set(m))}
            for j, m in enumerate(members)
        ],
    }
    return Config.model_validate(data)


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    median = statistics.median(samples)
    return f"median {median * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, max {samples[-1] * 1e3:.3f} ms"


def agent_frees_up(agents: int, callers: int, queues: int, rounds: int, strategy: str) -> list[float]:
    cfg = build(agents, queues, strategy)
    acd = AcdEngine(cfg, random.Random(1), now=0.0)
    now = 0.0
    exts = sorted(acd.agents)
    for ext in exts:
        acd.handle(AgentReachability(ext, True), now, now)
        acd.handle(Login(ext), now, now)
    busy: dict[str, str] = {}
    for i in range(agents):  # every agent answers one caller: all busy
        now += 0.001
        call_id = f"warm{i}"
        out = acd.handle(CallerJoined(call_id, f"q{i % queues}"), now, now)
        for e in out:
            if isinstance(e, Offer):
                acd.handle(OfferAnswered(e.call_id, e.agent), now, now)
                busy[e.agent] = e.call_id
    for i in range(callers):
        now += 0.001
        acd.handle(CallerJoined(f"c{i}", f"q{i % queues}"), now, now)
    samples = []
    rng = random.Random(2)
    for _ in range(rounds):
        ext = rng.choice(exts)
        now += 0.01
        start = time.perf_counter()
        out = acd.handle(CallEnded(busy[ext], ext), now, now)
        samples.append(time.perf_counter() - start)
        offer = next(e for e in out if isinstance(e, Offer))
        acd.handle(OfferAnswered(offer.call_id, ext), now, now)
        busy[ext] = offer.call_id
    return samples


def caller_joins(agents: int, queues: int, rounds: int, strategy: str) -> list[float]:
    cfg = build(agents, 1, strategy)
    acd = AcdEngine(cfg, random.Random(1), now=0.0)
    for ext in sorted(acd.agents):
        acd.handle(AgentReachability(ext, True), 0.0, 0.0)
        acd.handle(Login(ext), 0.0, 0.0)
    samples = []
    now = 1.0
    for i in range(rounds):
        now += 1.0
        start = time.perf_counter()
        out = acd.handle(CallerJoined(f"j{i}", "q0"), now, now)
        samples.append(time.perf_counter() - start)
        offer = next(e for e in out if isinstance(e, Offer))
        acd.handle(OfferAnswered(offer.call_id, offer.agent), now, now)
        acd.handle(CallEnded(offer.call_id, offer.agent), now, now)
    return samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--callers", type=int, default=10000)
    p.add_argument("--queues", type=int, default=10)
    p.add_argument("--rounds", type=int, default=300)
    a = p.parse_args()
    print(
        f"ACD routing decision: {a.agents} agents (3 queues each of {a.queues}), {a.callers} callers waiting"
    )
    for name in ("longest_idle", "round_robin", "fewest_calls", "linear", "random"):
        samples = agent_frees_up(a.agents, a.callers, a.queues, a.rounds, name)
        print(f"  agent frees up, {name:<15} {_ms(samples)}")
    for name in ("longest_idle", "least_talk_time"):
        samples = caller_joins(a.agents, a.queues, a.rounds, name)
        print(f"  caller joins, {a.agents} agents free, {name:<15} {_ms(samples)}")


if __name__ == "__main__":
    main()
