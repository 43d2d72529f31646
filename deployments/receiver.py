"""The notification receiver: where Graph POSTs change and lifecycle notifications.

Served beside the consent callback (``deployments/callback.py`` mounts these routes):

- ``POST /notifications`` and ``POST /lifecycle`` with ``?validationToken=...`` (Graph's
  handshake when a subscription is created): the token is echoed as ``text/plain`` at once;
- otherwise the body ``{"value": [...]}`` is screened (:func:`mailwarden.protection.screen`:
  known subscription, same tenant, ``clientState`` matching its stored hash) and every accepted
  item is written to the store's notification queue in one transaction *before* answering
  ``202 Accepted``, so nothing acknowledged is lost. Forged items are refused, logged with their
  reason only, and change nothing; a request whose items are all refused gets 403.
- ``kick(tenant_ids)`` is called after a commit, to hand the work on (the served deployment emits
  the ``mailwarden.notifications.queued`` Prefect event that starts ``process-notifications``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from mailwarden.protection import screen
from mailwarden.store import Store
from mailwarden.store.repositories import enqueue_notifications

log = logging.getLogger("mailwarden.receiver")

NOTIFICATIONS_PATH = "/notifications"
LIFECYCLE_PATH = "/lifecycle"
MAX_BODY = 4 * 1024 * 1024
MAX_TOKEN = 2048
QUEUED_EVENT = "mailwarden.notifications.queued"

Kick = Callable[[set[str]], None]


def add_receiver_routes(app: FastAPI, get_store: Callable[[], Store], *, kick: Kick | None = None,
                        notifications_path: str = NOTIFICATIONS_PATH, lifecycle_path: str = LIFECYCLE_PATH) -> None:
    """Mount the two notification endpoints on ``app``."""

    def persist(body: Any, kind: str) -> tuple[set[str], int, list[str]]:
        with get_store().session() as s:
            accepted, refused = screen(s, body, kind)  # type: ignore[arg-type]
            enqueue_notifications(s, [a.row() for a in accepted])
            s.commit()
        return {a.tenant_id for a in accepted}, len(accepted), [r.reason for r in refused]

    async def receive(request: Request, kind: str) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            if len(token) > MAX_TOKEN:
                return PlainTextResponse("validation token too long", status_code=400)
            return PlainTextResponse(token, status_code=200)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        tenants, accepted, refused = await asyncio.to_thread(persist, body, kind)
        if refused:
            log.warning("refused %d %s notification(s): %s", len(refused), kind, sorted(set(refused)))
        if accepted and kick is not None:
            try:
                kick(tenants)
            except Exception:  # the work is queued; a failed kick only delays it
                log.exception("could not hand queued notifications on")
        if refused and not accepted:
            return JSONResponse({"error": "notification refused"}, status_code=403)
        return Response(status_code=202)

    @app.post(notifications_path)
    async def notifications(request: Request) -> Response:
        return await receive(request, "change")

    @app.post(lifecycle_path)
    async def lifecycle(request: Request) -> Response:
        return await receive(request, "lifecycle")


class PrefectKick:
    """Emit ``mailwarden.notifications.queued`` per tenant, at most once per ``interval`` seconds."""

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, tenant_ids: set[str]) -> None:
        from prefect.events import emit_event

        now = time.monotonic()
        with self._lock:
            due = [t for t in tenant_ids if now - self._last.get(t, -1e9) >= self.interval]
            for t in due:
                self._last[t] = now
        for t in due:
            emit_event(event=QUEUED_EVENT, resource={"prefect.resource.id": f"mailwarden.tenant.{t}"},
                       payload={"tenant": t})
