"""The contact-center part of the HTTP API: queues, waiting callers, agents and their commands.

Reads come from the engine's views (pbx.acd.views); commands go through the daemon's Driver as
one step like any SIP event, and the engine's own answer decides the status: `Confirmed` -> 200,
`Refused` -> 409 with its reason (not logged in, not a member, not a supervisor, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from pbx.acd import events as ev
from pbx.acd.model import Chosen


@runtime_checkable
class AcdBackend(Protocol):
    def queue_stats(self) -> list[Any]: ...

    def waiting(self, queue: str) -> list[Any] | None: ...

    def agents(self) -> list[Any]: ...

    def agent(self, ext: str) -> Any | None: ...

    def why_not(self, ext: str, queue: str | None) -> str: ...

    def acd_command(self, command: ev.AcdInput) -> tuple[bool, str]: ...

    def hotdesk_logout(self, user: str) -> str: ...

    def callbacks(self, number: str | None, planning: bool) -> list[dict[str, Any]]: ...

    def requeue(self, call_id: str, queue: str) -> str | None: ...

    def callback_command(self, fn: Callable[[Any, float, float], Any]) -> Any: ...


class QueueChoice(BaseModel):
    model_config = {"extra": "forbid"}

    queue: str | None = Field(None, description="queue name; none: all the agent's queues")
    by: str | None = Field(None, description="supervisor acting for the agent (VC 3.1.1)")


class StatusChange(BaseModel):
    model_config = {"extra": "forbid"}

    status: Literal["available", "offline", "paused"]
    reason: str | None = Field(None, description="pause reason code (config acd.pause_reasons)")
    by: str | None = None


class WrapupChange(BaseModel):
    model_config = {"extra": "forbid"}

    on: bool


class Disposition(BaseModel):
    model_config = {"extra": "forbid"}

    code: str = Field(min_length=1)
    call_id: str | None = None


class CallbackRequest(BaseModel):
    """Schedule a call-back (OP 3.6): one open call-back per number (a second one updates it)."""

    model_config = {"extra": "forbid"}

    number: str = Field(min_length=2, pattern=r"^\+?[0-9]+$")
    queue: str = Field(min_length=1)
    name: str = ""
    at: float | None = Field(None, description="when to call back, epoch seconds; default now")


class Requeue(BaseModel):
    model_config = {"extra": "forbid"}

    queue: str = Field(min_length=1, description="another queue (name or number)")


class Move(BaseModel):
    """Move a waiting caller to another queue (keeping their place) and/or change their priority."""

    model_config = {"extra": "forbid"}

    queue: str | None = None
    priority: int | None = Field(None, ge=-100, le=100)


class CherryPick(BaseModel):
    model_config = {"extra": "forbid"}

    call_id: str = Field(min_length=1)


def _json(view: Any) -> dict[str, Any]:
    """A view as JSON: infinity (manual wrap-up) becomes null with a flag, times are rounded."""
    out = asdict(view)
    for k, v in list(out.items()):
        if isinstance(v, float):
            out[k] = None if math.isinf(v) or math.isnan(v) else round(v, 3)
    if hasattr(view, "wrapup_left"):
        out["wrapup_manual"] = view.wrapup_left is not None and math.isinf(view.wrapup_left)
    return out


def acd_router(backend: AcdBackend, authed: Any) -> APIRouter:
    r = APIRouter(dependencies=[Depends(authed)], tags=["acd"])

    def agent_or_404(ext: str) -> None:
        if backend.agent(ext) is None:
            raise HTTPException(status_code=404, detail=f"{ext} is not an agent")

    def run(command: ev.AcdInput) -> dict[str, str]:
        ok, detail = backend.acd_command(command)
        if not ok:
            raise HTTPException(status_code=409, detail=detail)
        return {"result": "ok", "detail": detail}

    @r.get("/api/queues")
    async def queues() -> list[dict[str, Any]]:
        """Live statistics per queue (OP/VC 3.1): agents logged in and available, waiting callers,
        longest and average wait, answered vs offered, abandoned, service level."""
        return [_json(q) for q in backend.queue_stats()]

    @r.get("/api/queues/{name}/waiting")
    async def waiting(name: str) -> list[dict[str, Any]]:
        """Waiting callers in order, with their wait and the agents whose phone rings for them."""
        rows = backend.waiting(name)
        if rows is None:
            raise HTTPException(status_code=404, detail=f"no queue {name!r}")
        return [_json(w) for w in rows]

    @r.post("/api/calls/{call_id}/requeue")
    async def requeue(call_id: str, body: Requeue) -> dict[str, str]:
        """VC 2.1.2: put an answered queue call back into another queue with its original arrival
        time; the agent's leg ends and their wrap-up follows; the caller hears the music again."""
        why = backend.requeue(call_id, body.queue)
        if why is not None:
            code = 404 if why.startswith("no queue") or why.startswith("not an answered") else 409
            raise HTTPException(status_code=code, detail=why)
        return {"result": "ok", "detail": body.queue}

    @r.post("/api/queues/{name}/waiting/{call_id}/move")
    async def move(name: str, call_id: str, body: Move) -> dict[str, str]:
        """Supervisor: move a waiting caller to another queue keeping their place, or re-prioritise."""
        if body.queue is None and body.priority is None:
            raise HTTPException(status_code=422, detail="give a queue, a priority or both")
        ok, detail = backend.acd_command(ev.MoveCaller(call_id, body.queue, body.priority))
        if not ok:
            raise HTTPException(status_code=404, detail=detail)
        return {"result": "ok", "detail": detail}

    @r.post("/api/queues/{name}/waiting/{call_id}/callback")
    async def withdraw(name: str, call_id: str) -> dict[str, str]:
        """Supervisor: turn a waiting caller into a call-back (they are told, then hung up)."""
        if not backend.callback_command(lambda q, now, wall: q.withdraw_to_callback(call_id, now, wall)):
            raise HTTPException(status_code=404, detail=f"no waiting caller {call_id!r}")
        return {"result": "ok", "detail": call_id}

    @r.get("/api/agents")
    async def agents() -> list[dict[str, Any]]:
        return [_json(a) for a in backend.agents()]

    @r.get("/api/agents/{ext}")
    async def agent(ext: str) -> dict[str, Any]:
        found = backend.agent(ext)
        if found is None:
            raise HTTPException(status_code=404, detail=f"{ext} is not an agent")
        return _json(found)

    @r.get("/api/agents/{ext}/why-not")
    async def why_not(ext: str, queue: Annotated[str | None, Query()] = None) -> dict[str, str]:
        """Why the agent gets no queue calls right now, in words ("paused (lunch) since 12:03")."""
        agent_or_404(ext)
        return {"agent": ext, "why": backend.why_not(ext, queue)}

    @r.post("/api/agents/{ext}/login")
    async def login(ext: str, body: QueueChoice | None = None) -> dict[str, str]:
        """Log in to one queue, or (no body) to all the agent's queues."""
        agent_or_404(ext)
        choice = body or QueueChoice()
        return run(ev.Login(ext, choice.queue, choice.by))

    @r.post("/api/agents/{ext}/logout")
    async def logout(ext: str, body: QueueChoice | None = None) -> dict[str, str]:
        agent_or_404(ext)
        choice = body or QueueChoice()
        return run(ev.Logout(ext, choice.queue, choice.by))

    @r.put("/api/agents/{ext}/status")
    async def status(ext: str, body: StatusChange) -> dict[str, str]:
        agent_or_404(ext)
        return run(ev.SetStatus(ext, Chosen(body.status), body.reason, body.by))

    @r.put("/api/agents/{ext}/wrapup")
    async def wrapup(ext: str, body: WrapupChange) -> dict[str, str]:
        agent_or_404(ext)
        return run(ev.SetWrapup(ext, body.on))

    @r.post("/api/agents/{ext}/disposition")
    async def disposition(ext: str, body: Disposition) -> dict[str, str]:
        agent_or_404(ext)
        return run(ev.SetDisposition(ext, body.code, body.call_id))

    @r.get("/api/callbacks")
    async def callbacks(
        number: Annotated[str | None, Query(description="search: part of the number")] = None,
        planning: Annotated[bool, Query(description="only those due from 4 h ago to 12 h ahead")] = False,
    ) -> list[dict[str, Any]]:
        """Call-backs with their state (open, offered, done, failed, cancelled) and attempts."""
        return backend.callbacks(number, planning)

    @r.post("/api/callbacks", status_code=201)
    async def schedule(body: CallbackRequest) -> dict[str, Any]:
        if body.queue not in {q["name"] for q in (_json(x) for x in backend.queue_stats())}:
            raise HTTPException(status_code=422, detail=f"no queue {body.queue!r}")
        cb = backend.callback_command(
            lambda q, now, wall: q.schedule_callback(body.number, body.name, body.queue, body.at, now, wall)
        )
        return dict(cb.record())

    @r.delete("/api/callbacks/{cb_id}", status_code=200)
    async def cancel(cb_id: str) -> dict[str, Any]:
        cb = backend.callback_command(lambda q, now, wall: q.cancel_callback(cb_id, now, wall))
        if cb is None:
            raise HTTPException(status_code=404, detail=f"no open call-back {cb_id!r}")
        return dict(cb.record())

    @r.post("/api/callbacks/{cb_id}/retry")
    async def retry(cb_id: str) -> dict[str, Any]:
        """A failed call-back, once more (the attempts start over)."""
        cb = backend.callback_command(lambda q, now, wall: q.retry_callback(cb_id, now, wall))
        if cb is None:
            raise HTTPException(status_code=409, detail=f"{cb_id!r} is not a failed call-back")
        return dict(cb.record())

    @r.delete("/api/agents/{ext}/session")
    async def end_session(ext: str, phone: Annotated[bool, Query()] = False) -> dict[str, str]:
        """Log out of the console (OP 4, VC 6): out of every queue and, with `phone=true`, also
        hotdesk-logged-out of the phone."""
        agent_or_404(ext)
        ok, detail = backend.acd_command(ev.Logout(ext, None))
        out = {"queues": "logged_out" if ok else detail}
        if phone:
            out["phone"] = backend.hotdesk_logout(ext)
        return out

    @r.post("/api/agents/{ext}/cherry-pick")
    async def cherry_pick(ext: str, body: CherryPick) -> dict[str, str]:
        """Take this waiting caller now, from any queue the agent may see (OP 2.1.2)."""
        agent_or_404(ext)
        return run(ev.CherryPick(ext, body.call_id))

    return r
