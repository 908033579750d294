"""The reconciler: compare what the engine believes about agents with the truth the shell reads
from the call layer and the registrar, and repair the engine (SPEC section 5).

The incumbents' most reported ACD bug is an agent stuck in "ringing" or "on call" after a lost
BYE or a caller who hung up during the offer (FreeSWITCH mod_callcenter 2540, 1973, 1062, 2529).
The shell runs `reconcile` periodically and on every registration change; each repair is one
`Repaired` effect (log it, count it) besides the effects of the repair itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pbx.acd import effects as fx
from pbx.acd.engine import AcdEngine
from pbx.acd.model import AgentCall


@dataclass(frozen=True)
class AgentTruth:
    reachable: bool
    dialogs: frozenset[str] = frozenset()  # call ids of confirmed calls the agent's phone is in
    ringing: frozenset[str] = frozenset()  # call ids of calls ringing the agent's phone


@dataclass(frozen=True)
class Truth:
    agents: Mapping[str, AgentTruth]  # an agent missing here: unreachable, in no dialog
    live_calls: frozenset[str] | None = None  # queue callers whose dialog still exists; None: unknown


_ABSENT = AgentTruth(reachable=False)


def reconcile(acd: AcdEngine, truth: Truth, now: float, wall: float) -> list[fx.Effect]:
    acd._begin(now, wall)
    out = acd._out
    for ext, agent in acd.agents.items():
        real = truth.agents.get(ext, _ABSENT)
        if agent.reachable != real.reachable:
            _repair(acd, out, ext, None, "reachable" if real.reachable else "unreachable")
            acd._reachability(ext, real.reachable, now)
        for call_id in [c for c in agent.calls if c not in real.dialogs]:
            # A lost BYE: the call is over. No wrap-up: it ended at a time nobody knows, and the
            # agent has been idle since (FreeSWITCH 2540).
            _repair(acd, out, ext, call_id, "stale_call")
            acd._touch(agent)
            del agent.calls[call_id]
            holders = acd.answered_by.get(call_id)
            if holders is not None:
                holders.discard(ext)
                if not holders:
                    del acd.answered_by[call_id]
        if agent.offer is not None and agent.offer not in real.ringing:
            call_id = agent.offer
            if call_id in real.dialogs:
                _repair(acd, out, ext, call_id, "answer_not_reported")
                acd._answered(call_id, ext, now)
            else:
                _repair(acd, out, ext, call_id, "stale_offer")
                acd._offer_ended(call_id, ext, "lost", now)
        for call_id in sorted(real.dialogs - set(agent.calls)):
            if call_id == agent.offer:
                continue
            _repair(acd, out, ext, call_id, "untracked_call")
            acd._touch(agent)
            agent.calls[call_id] = AgentCall(call_id, None, "unknown", "", now)
    if truth.live_calls is not None:
        for call_id in [c for c in acd.calls if c not in truth.live_calls]:
            _repair(acd, out, None, call_id, "caller_gone")
            acd._caller_gone(call_id, now)
    return acd._end(now)


def _repair(acd: AcdEngine, out: list[fx.Effect], ext: str | None, call_id: str | None, what: str) -> None:
    acd.repairs[what] = acd.repairs.get(what, 0) + 1
    out.append(fx.Repaired(ext, call_id, what))
