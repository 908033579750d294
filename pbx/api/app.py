"""The HTTP API (FastAPI on the daemon's own event loop). Handlers are thin: they read core
snapshots or post a command through the backend, the same path a SIP event takes."""

from __future__ import annotations

import hmac
from typing import Annotated, Protocol

from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pbx.api.schemas import Ban, Registration, UserPresence


class Backend(Protocol):
    token: str

    def ready(self) -> bool: ...

    def registrations(self, user: str | None = None) -> list[Registration]: ...

    def users(self) -> list[UserPresence]: ...

    def user(self, extension: str) -> UserPresence | None: ...

    def bans(self) -> list[Ban]: ...

    def lift_ban(self, ip: str) -> bool: ...

    def metrics(self) -> bytes: ...


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

    @app.get("/api/bans", dependencies=[Authed], tags=["security"])
    def bans() -> list[Ban]:
        return backend.bans()

    @app.delete("/api/bans/{ip}", dependencies=[Authed], tags=["security"], status_code=204)
    def lift(ip: str) -> Response:
        if not backend.lift_ban(ip):
            raise HTTPException(status_code=404, detail=f"{ip} is not banned")
        return Response(status_code=204)

    return app
