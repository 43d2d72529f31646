"""The admin-consent callback: the redirect URI the consent page sends the admin back to.

``GET /consent/callback?admin_consent=True&tenant=...&state=...`` (or ``?error=...``):

1. parse the query (malformed -> 400, nothing changes);
2. look the ``state`` up by its hash in the store: unknown, already used or expired -> 400,
   logged, nothing changes;
3. check the onboarding run that asked for consent is waiting (paused); a run that does not
   exist or has ended -> 409, nothing changes; a run about to pause is waited for briefly;
4. consume the state (once: a replay or a concurrent duplicate is refused) and resume the run
   with the outcome as its run input. A refusal resumes it too, so it fails with the admin's
   reason instead of waiting for its timeout.

The admin sees a small HTML page. The state is never logged; only its request's id is, and
the servers started here (``CallbackServer``, ``serve_callback``) log their access lines without
the query string (``deployments/http_limits.py``: ``redact_access_log``). Oversize query strings
(414) and header blocks (431) are refused before any route runs (``HeadLimits``).

The same app receives Graph's change and lifecycle notifications (``/notifications``,
``/lifecycle``: see ``deployments/receiver.py``).
``create_app()`` builds the FastAPI app; ``CallbackServer`` runs it on a thread (tests, the
embedded runner) and ``serve_callback()`` runs it in the foreground.
"""

from __future__ import annotations

import asyncio
import html
import logging
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from deployments.http_limits import HeadLimits, redact_access_log
from deployments.receiver import Kick, PrefectKick, add_receiver_routes
from mailwarden.onboarding import CallbackError, ConsentOutcome, parse_callback, state_digest
from mailwarden.store import Store, utcnow
from mailwarden.store.errors import ConsentRequestError
from mailwarden.store.models import ConsentRequest
from mailwarden.store.repositories import consume_consent_request

log = logging.getLogger("mailwarden.callback")

DEFAULT_PATH = "/consent/callback"
WAITING = "PAUSED"
ABOUT_TO_WAIT = {"RUNNING", "PENDING", "SCHEDULED"}


class RunControl(Protocol):
    """How the callback sees and resumes flow runs (Prefect by default; fakes in tests)."""

    async def state_of(self, flow_run_id: str) -> str | None:
        """The run's state type (``PAUSED``, ``RUNNING``, ...) or None if there is no such run."""
        ...

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None: ...


class PrefectRunControl:
    """Reads and resumes runs through the Prefect API this process is configured for."""

    async def state_of(self, flow_run_id: str) -> str | None:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        try:
            run_uuid = uuid.UUID(flow_run_id)
        except ValueError:
            return None
        async with get_client() as client:
            try:
                run = await client.read_flow_run(run_uuid)
            except ObjectNotFound:
                return None
        return run.state.type.value if run.state is not None else None

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None:
        from prefect.flow_runs import aresume_flow_run

        await aresume_flow_run(uuid.UUID(flow_run_id), run_input=run_input)


@dataclass(frozen=True)
class _Pending:
    request_id: int
    flow_run_id: str | None
    tier: str | None
    tenant_ref: str


class CallbackRefused(Exception):
    """The callback cannot be honoured; ``status`` and a message safe to show the admin."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _page(title: str, text: str, status: int = 200) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>mailwarden</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _peek(store: Store, state: str) -> _Pending:
    """The pending request for ``state`` without consuming it (refusals change nothing)."""
    with store.session() as session:
        row = session.scalars(
            select(ConsentRequest).where(ConsentRequest.state_hash == state_digest(state))
        ).first()
        if row is None:
            raise CallbackRefused(400, "This consent link is not known. Start onboarding again.")
        if row.used_at is not None:
            log.warning("consent callback refused: request %s was already used (replay?)", row.id)
            raise CallbackRefused(400, "This consent link was already used.")
        if row.expires_at <= utcnow():
            log.warning("consent callback refused: request %s expired", row.id)
            raise CallbackRefused(400, "This consent link has expired. Start onboarding again.")
        return _Pending(row.id, row.flow_run_id, row.tier, row.tenant_ref)


def create_app(
    store: Store | Callable[[], Store] | None = None,
    *,
    runs: RunControl | None = None,
    path: str = DEFAULT_PATH,
    resume_wait: float = 15.0,
    poll: float = 0.25,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    kick: Kick | None = None,
) -> FastAPI:
    """The callback app. ``store``: the store (or a factory) holding consent requests; default
    the process's default store. ``resume_wait``: how long to wait for a run that has not paused yet.
    ``kick``: called with the tenant ids whose notifications were just queued."""
    control: RunControl = runs or PrefectRunControl()
    app = FastAPI(title="mailwarden consent callback", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(HeadLimits)

    def get_store() -> Store:
        if isinstance(store, Store):
            return store
        if store is not None:
            return store()
        from tasks.common import store_for

        return store_for(None)

    async def wait_until_paused(flow_run_id: str) -> None:
        deadline = time.monotonic() + resume_wait
        while True:
            state = await control.state_of(flow_run_id)
            if state == WAITING:
                return
            if state is None:
                log.warning("consent callback refused: onboarding run %s does not exist", flow_run_id)
                raise CallbackRefused(409, "The onboarding run for this link no longer exists.")
            if state not in ABOUT_TO_WAIT or time.monotonic() >= deadline:
                log.warning(
                    "consent callback refused: onboarding run %s is %s, not waiting", flow_run_id, state
                )
                raise CallbackRefused(409, "The onboarding run for this link is not waiting for consent.")
            await sleep(poll)

    async def handle(query: dict[str, str]) -> tuple[ConsentOutcome, _Pending]:
        try:
            state, outcome = parse_callback(query)
        except CallbackError as exc:
            log.warning("consent callback refused: %s", exc)
            raise CallbackRefused(400, str(exc)) from exc
        db = get_store()
        pending = await asyncio.to_thread(_peek, db, state)
        if not pending.flow_run_id:
            raise CallbackRefused(409, "No onboarding run is waiting for this link.")
        await wait_until_paused(pending.flow_run_id)

        def consume() -> None:
            with db.session() as session:
                consume_consent_request(session, state, outcome="granted" if outcome.granted else "denied")

        try:
            await asyncio.to_thread(consume)
        except ConsentRequestError as exc:  # lost a race with a duplicate callback
            log.warning("consent callback refused for request %s: %s", pending.request_id, exc)
            raise CallbackRefused(400, "This consent link was already used.") from exc
        await control.resume(pending.flow_run_id, outcome.to_run_input(pending.tier))
        log.info(
            "consent request %s (%s tier) resumed onboarding run %s: %s",
            pending.request_id,
            pending.tier,
            pending.flow_run_id,
            "granted" if outcome.granted else "refused",
        )
        return outcome, pending

    @app.get(path, response_class=HTMLResponse)
    async def consent_callback(request: Request) -> HTMLResponse:
        try:
            outcome, _ = await handle(dict(request.query_params))
        except CallbackRefused as exc:
            return _page("This consent link cannot be used", exc.message, exc.status)
        if outcome.granted:
            return _page("Connected", "Consent recorded: you can close this window.")
        return _page("Consent was not granted", outcome.reason)

    add_receiver_routes(app, get_store, kick=kick)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


class CallbackServer:
    """The callback app served by uvicorn on a background thread (``port=0``: a free port)."""

    def __init__(self, app: FastAPI | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.app = app or create_app()
        # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every response waits ~40 ms for the client's delayed ACK (Nagle).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        redact_access_log()  # after Config: it (re)configures uvicorn's loggers
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def redirect_uri(self, path: str = DEFAULT_PATH) -> str:
        return self.url + path

    def start(self, timeout: float = 10.0) -> CallbackServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="consent-callback", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the consent callback server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> CallbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_callback(host: str | None = None, port: int | None = None) -> None:
    """Serve the callback in the foreground on the configured host and port (blocking)."""
    import uvicorn

    from mailwarden.settings import get_settings

    settings = get_settings()
    config = uvicorn.Config(
        create_app(kick=PrefectKick()),
        host=host or settings.callback_host,
        port=port if port is not None else settings.callback_port,
        log_level="info",
    )
    redact_access_log()  # after Config: it (re)configures uvicorn's loggers
    uvicorn.Server(config).run()


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    serve_callback()
