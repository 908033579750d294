"""A small harness for the ACD engine tests: a config builder and an engine with its own clock."""

from __future__ import annotations

import random
from typing import Any

from pbx.acd import AcdEngine, AcdInput, AgentReachability, Effect, Login, Offer
from pbx.acd.model import Agent
from pbx.config.models import Config

WALL = 1_800_000_000.0  # wall = now + WALL


def config(
    queues: list[dict[str, Any]],
    agents: tuple[str, ...] = ("201", "202", "203", "204"),
    acd: dict[str, Any] | None = None,
    groups: dict[str, list[str]] | None = None,
) -> Config:
    users: list[dict[str, Any]] = [
        {"extension": ext, "name": f"Agent {ext}", "hotdesk": False, "groups": (groups or {}).get(ext, [])}
        for ext in agents
    ]
    users.append({"extension": "209", "name": "Boss", "hotdesk": False, "role": "supervisor"})
    users.append({"extension": "210", "name": "Admin", "hotdesk": False, "role": "admin"})
    data: dict[str, Any] = {"api": {"token": "x" * 16}, "users": users, "queues": queues}
    if acd is not None:
        data["acd"] = acd
    return Config.model_validate(data)


def queue(
    name: str, number: str, members: tuple[str, ...] = ("201", "202", "203", "204"), **kw: Any
) -> dict[str, Any]:
    return {"name": name, "number": number, "members": list(members), **kw}


class Acd:
    def __init__(self, cfg: Config, seed: int = 1, start: float = 1000.0) -> None:
        self.t = start
        self.engine = AcdEngine(cfg, random.Random(seed), now=start)
        self.log: list[Effect] = []

    def do(self, event: AcdInput) -> list[Effect]:
        out = self.engine.handle(event, self.t, self.t + WALL)
        self.log += out
        return out

    def advance(self, dt: float) -> list[Effect]:
        """Fire every deadline up to t + dt, in order (the shell's one timer)."""
        end = self.t + dt
        out: list[Effect] = []
        while (d := self.engine.next_deadline()) is not None and d <= end:
            self.t = max(self.t, d)
            out += self.engine.on_timer(self.t, self.t + WALL)
        self.t = end
        self.log += out
        return out

    def agent(self, ext: str) -> Agent:
        return self.engine.agents[ext]

    def ready(self, *exts: str, queue: str | None = None) -> list[Effect]:
        """Register and log in these agents (to all their queues, or to `queue`)."""
        out: list[Effect] = []
        for ext in exts:
            out += self.do(AgentReachability(ext, True))
            out += self.do(Login(ext, queue))
        return out


def offers(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(e.call_id, e.agent) for e in effects if isinstance(e, Offer)]


def of(kind: type, effects: list[Effect]) -> list[Any]:
    return [e for e in effects if isinstance(e, kind)]
