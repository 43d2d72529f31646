"""The delta fallback: per mailbox folder, read what changed since the stored delta link.

The first round of a folder asks only for messages received since a start time (message delta
allows exactly that ``$filter``), so a baseline never walks a mailbox's history; the link it
ends with is stored (``delta_tokens``) and the next sweep reads only later changes. Each item not
already claimed is handed to ``protect`` (the same step the notification path uses, so a message
is processed once whichever path sees it first). An expired link (410) restarts from the time of
the last successful sweep, minus a margin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailwarden.graph import DeltaExpired, GraphClient
from mailwarden.mailbox import mailbox_path
from mailwarden.store.models import DeltaToken
from mailwarden.store.repositories import clear_delta_token, get_delta_token, is_processed, set_delta_token

RESTART_MARGIN = timedelta(minutes=10)
PAGE = 200


def delta_resource(mailbox_id: str, folder: str) -> str:
    """The ``delta_tokens.resource`` key of a mailbox folder's message delta."""
    return f"messages:{mailbox_id.lower()}:{folder.lower()}"


@dataclass
class SweepResult:
    """One folder's sweep: items read, already handled, handed to ``protect``, and their outcomes."""

    mailbox_id: str
    folder: str
    seen: int = 0
    already: int = 0
    processed: int = 0
    restarted: bool = False
    baseline: bool = False
    outcomes: list[Any] = field(default_factory=list)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _last_sweep(session: Session, tenant_id: str, resource: str) -> datetime | None:
    return session.scalar(select(DeltaToken.updated_at).where(
        DeltaToken.tenant_id == tenant_id, DeltaToken.resource == resource))


def sweep_folder(
    client: GraphClient, session: Session, *, tenant_id: str, mailbox_id: str, folder: str = "inbox",
    start: datetime, protect: Callable[[str], Any], now: datetime | None = None,
) -> SweepResult:
    """Sweep one folder; ``start`` bounds a first round. ``protect(message_id)`` handles new items."""
    resource = delta_resource(mailbox_id, folder)
    out = SweepResult(mailbox_id, folder)
    link = get_delta_token(session, tenant_id, resource)
    try:
        link = _round(client, session, out, tenant_id, mailbox_id, folder, link, start, protect)
    except DeltaExpired:
        since = (_last_sweep(session, tenant_id, resource) or start) - RESTART_MARGIN
        clear_delta_token(session, tenant_id, resource)
        session.commit()
        out.restarted = True
        link = _round(client, session, out, tenant_id, mailbox_id, folder, None, since, protect)
    set_delta_token(session, tenant_id, resource, link)
    session.commit()
    return out


def _round(client: GraphClient, session: Session, out: SweepResult, tenant_id: str, mailbox_id: str,
           folder: str, link: str | None, start: datetime, protect: Callable[[str], Any]) -> str:
    headers = {"Prefer": f"odata.maxpagesize={PAGE}"}
    if link:
        it = client.iter_delta(link, headers=headers)
    else:
        out.baseline = True
        path = f"{mailbox_path(mailbox_id)}/mailFolders/{quote(folder, safe='')}/messages/delta"
        it = client.iter_delta(path, headers=headers, params={
            "$select": "id,internetMessageId,receivedDateTime", "$filter": f"receivedDateTime ge {_iso(start)}"})
    for item in it:
        if "@removed" in item or not item.get("id"):
            continue
        out.seen += 1
        if is_processed(session, tenant_id, mailbox_id, internet_message_id=item.get("internetMessageId"),
                        message_id=str(item["id"])):
            out.already += 1
            continue
        outcome = protect(str(item["id"]))
        out.processed += 1
        out.outcomes.append(outcome)
    if it.delta_link is None:  # pragma: no cover - iter_delta raises before this
        raise RuntimeError("delta round ended without a delta link")
    return it.delta_link
