"""The notification receiver: where Graph POSTs change and lifecycle notifications.

Served beside the consent callback (``deployments/callback.py`` mounts these routes):

- ``POST /notifications`` and ``POST /lifecycle`` with ``?validationToken=...`` (Graph's
  handshake when a subscription is created): the token (at most :data:`MAX_TOKEN` characters) is
  echoed as ``text/plain`` with ``nosniff`` at once, so the handshake cannot reflect HTML;
- otherwise the body ``{"value": [...]}`` is screened (:func:`mailwarden.protection.screen`:
  known subscription, same tenant, ``clientState`` matching its stored hash) and every accepted
  item is written to the store's notification queue in one transaction *before* answering
  ``202 Accepted``, so nothing acknowledged is lost. Forged items are refused, logged with their
  reason only, and change nothing; a request whose items are all refused gets 403.
- ``kick(tenant_ids)`` is called after a commit, to hand the work on (the served deployment emits
  the ``mailwarden.notifications.queued`` Prefect event that starts ``process-notifications``).

Outside input has a fixed cost (``deployments/http_limits.py``), in this order, each step
refusing before the next one spends anything: a source that keeps sending refused requests gets
429 before its body is read; the body is streamed with a hard limit of :data:`MAX_BODY` bytes
(413) within :data:`BODY_TIMEOUT` seconds (408); it must be UTF-8 JSON of at most
:data:`MAX_VALUES` values and :data:`MAX_DEPTH` levels, shaped ``{"value": [object, ...]}``
with at most :data:`MAX_ITEMS` items (400/413); then one query finds which items name a known
subscription with a matching ``clientState`` (:func:`plausible`), and only those go on to
:func:`screen`'s per-item checks. A forged request therefore costs one bounded read, one bounded
C-speed parse and one indexed query, however many items it carries.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from deployments.http_limits import InputRefused, RefusalBudget, parse_json, read_body, source_key
from mailwarden.protection import screen
from mailwarden.store import Store
from mailwarden.store.models import Subscription
from mailwarden.store.repositories import enqueue_notifications
from mailwarden.store.types import hash_secret_ref

log = logging.getLogger("mailwarden.receiver")

NOTIFICATIONS_PATH = "/notifications"
LIFECYCLE_PATH = "/lifecycle"
MAX_BODY = 1024 * 1024
"""Largest notification POST accepted. A change notification without resource data (the only
kind we subscribe to) is well under 1 KB and Graph batches several per POST; 1 MiB holds a batch
of :data:`MAX_ITEMS` of them with room to spare, and bounds what one request can make us hold."""
MAX_ITEMS = 1000
"""Most items in one POST's ``value`` (the same bound as :func:`screen`'s)."""
MAX_DEPTH = 32
"""Deepest JSON nesting accepted; a notification is 3-4 levels deep (body, value, item, resourceData)."""
MAX_VALUES = 32 * MAX_ITEMS
"""Most JSON values and keys in one POST: an item has about a dozen (ids, dates, resourceData)."""
MAX_TOKEN = 2048
BODY_TIMEOUT = 10.0
"""Seconds a client has to deliver the body once its headers are in (Graph itself gives up after ~10 s)."""
SUBSCRIPTION_ID_MAX = 64
"""Longest subscription id we can have stored (the store's column; Graph's ids are GUIDs)."""
CLIENT_STATE_MAX = 128
"""Graph refuses a ``clientState`` longer than 128 characters, so a longer one is forged."""
QUEUED_EVENT = "mailwarden.notifications.queued"

Kick = Callable[[set[str]], None]


def notification_items(body: Any) -> list[dict[str, Any]]:
    """The items of a notification POST body, or :class:`InputRefused` if it is not one."""
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise InputRefused(400, "body is not a notification collection")
    if len(items) > MAX_ITEMS:
        raise InputRefused(413, f"more than {MAX_ITEMS} notifications in one request")
    if not all(isinstance(item, dict) for item in items):
        raise InputRefused(400, "a notification is not an object")
    return items


def plausible(session: Session, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Split ``items`` into those naming a known subscription with its ``clientState``, and the
    refusal reasons of the rest, with one query for the whole request (not one per item)."""
    reasons: list[str] = []
    wanted: list[tuple[dict[str, Any], str, str]] = []
    for item in items:
        sid, state = item.get("subscriptionId"), item.get("clientState")
        if not isinstance(sid, str) or not 0 < len(sid) <= SUBSCRIPTION_ID_MAX:
            reasons.append("no subscriptionId")
        elif not isinstance(state, str) or not 0 < len(state) <= CLIENT_STATE_MAX:
            reasons.append("clientState does not match")
        else:
            wanted.append((item, sid, state))
    ids = sorted({sid for _, sid, _ in wanted})
    known: dict[str, str] = {}
    for at in range(0, len(ids), 500):  # well inside every database's bound on parameters
        rows = session.execute(select(Subscription.subscription_id, Subscription.client_state_hash)
                               .where(Subscription.subscription_id.in_(ids[at:at + 500])))
        known.update({str(sid): str(digest) for sid, digest in rows})
    kept: list[dict[str, Any]] = []
    for item, sid, state in wanted:
        digest = known.get(sid)
        if digest is None:
            reasons.append("unknown subscription")
        elif not hmac.compare_digest(digest, hash_secret_ref(state)):
            reasons.append("clientState does not match")
        else:
            kept.append(item)
    return kept, reasons


def add_receiver_routes(app: FastAPI, get_store: Callable[[], Store], *, kick: Kick | None = None,
                        notifications_path: str = NOTIFICATIONS_PATH, lifecycle_path: str = LIFECYCLE_PATH,
                        budget: RefusalBudget | None = None) -> None:
    """Mount the two notification endpoints on ``app``. ``budget``: how many refused requests a
    source may send before it gets 429 (default :class:`RefusalBudget`'s)."""
    refusals = budget or RefusalBudget()

    def persist(items: list[dict[str, Any]], kind: str) -> tuple[set[str], int, list[str]]:
        with get_store().session() as s:
            kept, reasons = plausible(s, items)
            if not kept:
                return set(), 0, reasons
            accepted, refused = screen(s, {"value": kept}, kind)  # type: ignore[arg-type]
            enqueue_notifications(s, [a.row() for a in accepted])
            s.commit()
        return {a.tenant_id for a in accepted}, len(accepted), reasons + [r.reason for r in refused]

    def refuse(source: str, kind: str, reasons: list[str]) -> None:
        log.warning("refused %d %s notification(s) from %s: %s", len(reasons), kind, source, sorted(set(reasons)))
        if refusals.refused(source):
            log.warning("%s sent too many refused notification requests: answering 429 for a while", source)

    async def receive(request: Request, kind: str) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            if len(token) > MAX_TOKEN:
                return PlainTextResponse("validation token too long", status_code=400,
                                         headers={"X-Content-Type-Options": "nosniff"})
            return PlainTextResponse(token, status_code=200, headers={
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; sandbox"})
        source = source_key(request.client.host if request.client else None)
        wait = refusals.retry_after(source)
        if wait is not None:
            return JSONResponse({"error": "too many refused requests"}, status_code=429,
                                headers={"Retry-After": str(max(1, math.ceil(wait)))})
        try:
            raw = await read_body(request, MAX_BODY, timeout=BODY_TIMEOUT)
            items = notification_items(parse_json(raw, max_depth=MAX_DEPTH, max_values=MAX_VALUES))
        except InputRefused as exc:
            refuse(source, kind, [exc.reason])
            return exc.response()
        tenants, accepted, refused = await asyncio.to_thread(persist, items, kind)
        if refused and not accepted:
            refuse(source, kind, refused)
            return JSONResponse({"error": "notification refused"}, status_code=403)
        if refused:
            log.warning("refused %d %s notification(s) from %s: %s", len(refused), kind, source, sorted(set(refused)))
        if accepted:
            refusals.accepted(source)
            if kick is not None:
                try:
                    kick(tenants)
                except Exception:  # the work is queued; a failed kick only delays it
                    log.exception("could not hand queued notifications on")
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
