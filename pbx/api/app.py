"""The HTTP API (FastAPI on the daemon's own event loop). Handlers are thin: they read core
snapshots or post a command through the backend, the same path a SIP event takes."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pbx.api.acd import AcdBackend, acd_router
from pbx.api.events import EventHub
from pbx.api.schemas import (
    Ban,
    HistoryPage,
    HotdeskLogin,
    HotdeskState,
    LiveCall,
    Originated,
    OriginateRequest,
    Registration,
    UserPresence,
)

MAX_PAGE = 500


class BadParameter(ValueError):
    """A query parameter the backend refused; the message names it and says why (422)."""


class NoDialplan(Exception):
    """The daemon has no dialplans to explain with (404)."""


class Backend(Protocol):
    token: str

    def ready(self) -> bool: ...

    def registrations(self, user: str | None = None) -> list[Registration]: ...

    def users(self) -> list[UserPresence]: ...

    def user(self, extension: str) -> UserPresence | None: ...

    def bans(self) -> list[Ban]: ...

    def lift_ban(self, ip: str) -> bool: ...

    def metrics(self) -> bytes: ...

    def history(self, user: str, limit: int, before: str | None, offset: int) -> HistoryPage | None:
        """None for an unknown user; BadParameter for a cursor this API did not hand out."""
        ...

    def calls(self) -> list[LiveCall]: ...

    def call(self, call_id: str) -> LiveCall | None: ...

    def hangup(self, call_id: str) -> bool: ...

    def originate(self, user: str, number: str) -> tuple[str | None, int, str]: ...

    def hotdesk(self) -> HotdeskState: ...

    def hotdesk_login(self, user: str, device: str) -> str: ...

    def hotdesk_logout(self, user: str) -> str: ...

    def explain(self, caller: str | None, dial: str, at: str | None, context: str | None) -> dict[str, Any]:
        """render_json of the dialplan decision; BadParameter for a bad `at` or unknown `from`,
        NoDialplan when the daemon has none."""
        ...


_bearer = HTTPBearer(auto_error=False)


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(
        title="pbx",
        summary="SIP PBX and contact-center call control",
        version="0.1.0",
        docs_url="/docs",
    )

    def auth(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if creds is None or not hmac.compare_digest(creds.credentials.encode(), backend.token.encode()):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    Authed = Depends(auth)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        if not backend.ready():
            raise HTTPException(status_code=503, detail="starting")
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics() -> Response:
        return Response(backend.metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/api/registrations", dependencies=[Authed], tags=["registrar"])
    def registrations() -> list[Registration]:
        return backend.registrations()

    @app.get("/api/registrations/{user}", dependencies=[Authed], tags=["registrar"])
    def registrations_of(user: str) -> list[Registration]:
        if backend.user(user) is None:
            raise HTTPException(status_code=404, detail=f"no user {user!r}")
        return backend.registrations(user)

    @app.get("/api/users", dependencies=[Authed], tags=["users"])
    def users() -> list[UserPresence]:
        return backend.users()

    @app.get("/api/users/{extension}", dependencies=[Authed], tags=["users"])
    def user(extension: str) -> UserPresence:
        u = backend.user(extension)
        if u is None:
            raise HTTPException(status_code=404, detail=f"no user {extension!r}")
        return u

    # `async def`: these run on the daemon's own loop between SIP steps, so a command or a read of
    # the core never races a datagram (a plain `def` would run in a worker thread).
    @app.get("/api/history", dependencies=[Authed], tags=["history"])
    async def history(
        user: Annotated[str, Query(min_length=1, description="the user's extension")],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        before: Annotated[str | None, Query(description="the `next` cursor of the previous page")] = None,
        offset: Annotated[int, Query(ge=0, description="rows to skip (instead of a cursor)")] = 0,
    ) -> HistoryPage:
        """A user's calls, newest first. Page with `before=<next>` (stable while calls are added)
        or with `offset`."""
        if before is not None and offset:
            raise HTTPException(status_code=422, detail="give either before or offset, not both")
        try:
            page = backend.history(user, limit, before, offset)
        except BadParameter as e:
            raise HTTPException(status_code=422, detail=f"before: {e}") from None
        if page is None:
            raise HTTPException(status_code=404, detail=f"no user {user!r}")
        return page

    @app.get("/api/calls", dependencies=[Authed], tags=["calls"])
    async def calls() -> list[LiveCall]:
        """Live calls with their legs (dialogs) and states."""
        return backend.calls()

    @app.get("/api/calls/{call_id}", dependencies=[Authed], tags=["calls"])
    async def call(call_id: str) -> LiveCall:
        found = backend.call(call_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no live call {call_id!r}")
        return found

    hub: EventHub | None = getattr(backend, "events", None)
    if hub is not None:
        events_hub = hub

        @app.get("/api/events", dependencies=[Authed], tags=["events"])
        async def events(
            types: Annotated[
                str | None,
                Query(description="comma-separated prefixes, e.g. `call,hotdesk,agent,queue,callback`"),
            ] = None,
        ) -> StreamingResponse:
            """Live events as Server-Sent Events (`event: call.started` + `data: {json}`):
            call.*, hotdesk.*, agent.status, queue.*, callback.changed. A comment line every 15 s
            keeps idle connections open; a slow reader loses its oldest events, never the PBX."""
            wanted = {t.strip() for t in types.split(",") if t.strip()} if types else None
            return StreamingResponse(events_hub.stream(wanted), media_type="text/event-stream")

    @app.get("/api/hotdesk", dependencies=[Authed], tags=["hotdesk"])
    async def hotdesk() -> HotdeskState:
        """Who is hotdesk-logged-in where (user, device, since), and current PIN lockouts."""
        return backend.hotdesk()

    @app.post("/api/hotdesk/login", dependencies=[Authed], tags=["hotdesk"], status_code=201)
    async def hotdesk_login(body: HotdeskLogin) -> HotdeskState:
        """Log a user in on a device (no PIN; both must allow hotdesking). A session the user has
        elsewhere ends, as with *35."""
        outcome = backend.hotdesk_login(body.user, body.device)
        if outcome != "logged_in":
            code = 404 if outcome == "unknown_user" else 403
            raise HTTPException(
                status_code=code, detail=f"cannot log {body.user} in on {body.device}: {outcome}"
            )
        return backend.hotdesk()

    @app.delete("/api/hotdesk/{user}", dependencies=[Authed], tags=["hotdesk"], status_code=204)
    async def hotdesk_logout(user: str) -> Response:
        """Force a user's hotdesk logout (the 3CX administrator's button)."""
        outcome = backend.hotdesk_logout(user)
        if outcome != "logged_out":
            raise HTTPException(status_code=404, detail=f"{user} is not hotdesk-logged-in ({outcome})")
        return Response(status_code=204)

    @app.post("/api/calls", dependencies=[Authed], tags=["calls"], status_code=201)
    async def originate(body: OriginateRequest) -> Originated:
        """Click-to-dial: the user's phone rings first; when answered, the number is dialled with the
        user's dialplan and caller ID, and the two are bridged. The call then shows in GET /api/calls."""
        call_id, status, reason = backend.originate(body.user, body.number)
        if call_id is None:
            code = 404 if status == 404 else 409 if status in (480, 486) else 403 if status == 403 else 422
            raise HTTPException(
                status_code=code, detail=f"cannot call {body.number} for {body.user}: {reason}"
            )
        return Originated(id=call_id)

    @app.delete("/api/calls/{call_id}", dependencies=[Authed], tags=["calls"], status_code=204)
    async def hangup(call_id: str) -> Response:
        """Hang up: BYE to every answered leg, CANCEL to every ringing one (487 to the caller)."""
        if not backend.hangup(call_id):
            raise HTTPException(status_code=404, detail=f"no live call {call_id!r}")
        return Response(status_code=204)

    @app.get("/api/dialplan/explain", dependencies=[Authed], tags=["dialplan"])
    async def explain(
        dial: Annotated[str, Query(min_length=1, description="the dialled string")],
        caller: Annotated[
            str | None, Query(alias="from", description="user extension or device name")
        ] = None,
        at: Annotated[
            str | None, Query(description="wall time, e.g. 2026-11-22T18:05 or with an offset; default now")
        ] = None,
        context: Annotated[str | None, Query(description="start in this context (e.g. from-trunk)")] = None,
    ) -> dict[str, Any]:
        """What happens when `from` dials `dial` at `at`, without placing a call (as `pbx explain
        --json`): the action, the deciding rule and the trail of rules tried."""
        try:
            return backend.explain(caller, dial, at, context)
        except BadParameter as e:
            raise HTTPException(status_code=422, detail=str(e)) from None
        except NoDialplan as e:
            raise HTTPException(status_code=404, detail=str(e)) from None

    @app.get("/api/bans", dependencies=[Authed], tags=["security"])
    def bans() -> list[Ban]:
        return backend.bans()

    @app.delete("/api/bans/{ip}", dependencies=[Authed], tags=["security"], status_code=204)
    def lift(ip: str) -> Response:
        if not backend.lift_ban(ip):
            raise HTTPException(status_code=404, detail=f"{ip} is not banned")
        return Response(status_code=204)

    if isinstance(backend, AcdBackend):
        app.include_router(acd_router(backend, auth))
    return app
