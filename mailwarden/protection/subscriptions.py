"""Keep one Graph change-notification subscription per protected mailbox (its Inbox messages).

:func:`plan_subscriptions` compares the mailboxes that should be protected with the stored
subscription records and says what to create, renew, delete or forget; :func:`sync_subscriptions`
carries a plan out against Graph and the store. Each subscription gets its own random
``clientState``; only its SHA-256 is stored, the clear value goes to Graph and nowhere else.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from sqlalchemy.orm import Session

from mailwarden.graph import GraphClient, GraphStatusError, NotFound
from mailwarden.store.repositories import (
    delete_subscription_record,
    save_subscription,
    update_subscription,
)

MAX_LIFETIME = timedelta(minutes=10070)
"""Graph's limit for Outlook message subscriptions (under 7 days)."""
DEFAULT_LIFETIME = timedelta(days=3)
DEFAULT_RENEW_BEFORE = timedelta(hours=24)
FOLDER = "inbox"
CHANGE_TYPE = "created"


class SubscriptionRecord(Protocol):
    """What planning reads of a stored subscription (``mailwarden.store.models.Subscription``)."""

    mailbox_id: str
    subscription_id: str
    status: str
    expires_at: datetime


@dataclass
class SubscriptionPlan:
    """Mailboxes to subscribe and subscription ids to renew, delete (in Graph) or forget (locally)."""

    create: list[str] = field(default_factory=list)
    renew: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.create or self.renew or self.delete or self.forget)


def resource_for(mailbox_id: str, folder: str = FOLDER) -> str:
    """The subscription resource of a mailbox folder's messages."""
    return f"users/{quote(mailbox_id, safe='@')}/mailFolders('{folder}')/messages"


def plan_subscriptions(
    desired: Iterable[str], existing: Sequence[SubscriptionRecord], *, now: datetime,
    renew_before: timedelta = DEFAULT_RENEW_BEFORE,
) -> SubscriptionPlan:
    """What to do so each desired mailbox has exactly one live subscription, renewed in time.

    Records that are not ``active`` or already expired are forgotten (and their mailbox
    subscribed again); active ones of mailboxes no longer protected are deleted.
    """
    want = {m.lower(): m for m in desired}
    plan = SubscriptionPlan()
    live: dict[str, list[SubscriptionRecord]] = {}
    for rec in existing:
        if rec.status != "active" or rec.expires_at <= now:
            plan.forget.append(rec.subscription_id)
        elif rec.mailbox_id.lower() not in want:
            plan.delete.append(rec.subscription_id)
        else:
            live.setdefault(rec.mailbox_id.lower(), []).append(rec)
    for key, mailbox in sorted(want.items()):
        recs = sorted(live.get(key, []), key=lambda r: r.expires_at, reverse=True)
        if not recs:
            plan.create.append(mailbox)
            continue
        best, extra = recs[0], recs[1:]
        plan.delete.extend(r.subscription_id for r in extra)
        (plan.renew if best.expires_at - now <= renew_before else plan.keep).append(best.subscription_id)
    return plan


def _graph_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class SyncResult:
    """What a sync did, per operation, and the mailboxes it could not handle (with reasons)."""

    created: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"created": len(self.created), "renewed": len(self.renewed), "recreated": len(self.recreated),
                "deleted": len(self.deleted), "forgotten": len(self.forgotten), "errors": len(self.errors)}


def create_subscription(
    client: GraphClient, session: Session, *, tenant_id: str, mailbox_id: str, notification_url: str,
    lifecycle_url: str | None, expires_at: datetime,
) -> str:
    """Subscribe to a mailbox's Inbox messages (Graph runs its validation handshake) and store it."""
    if expires_at - datetime.now(UTC) > MAX_LIFETIME:
        raise ValueError(f"a message subscription lives at most {MAX_LIFETIME}")
    client_state = secrets.token_urlsafe(32)
    body: dict[str, Any] = {"changeType": CHANGE_TYPE, "notificationUrl": notification_url,
                            "resource": resource_for(mailbox_id), "expirationDateTime": _graph_time(expires_at),
                            "clientState": client_state}
    if lifecycle_url:
        body["lifecycleNotificationUrl"] = lifecycle_url
    made = client.post("/subscriptions", body) or {}
    sid = str(made["id"])
    save_subscription(session, tenant_id, mailbox_id, sid, resource=str(made.get("resource") or body["resource"]),
                      client_state=client_state,
                      expires_at=_parse(str(made.get("expirationDateTime") or body["expirationDateTime"])))
    session.commit()
    return sid


def renew_subscription(client: GraphClient, session: Session, subscription_id: str, expires_at: datetime) -> None:
    """PATCH a subscription's expiry (raises ``NotFound`` if Graph no longer has it)."""
    got = client.patch(f"/subscriptions/{quote(subscription_id, safe='')}",
                       {"expirationDateTime": _graph_time(expires_at)}) or {}
    text = got.get("expirationDateTime")
    update_subscription(session, subscription_id, expires_at=_parse(str(text)) if text else expires_at,
                        status="active")
    session.commit()


def remove_subscription(client: GraphClient, session: Session, subscription_id: str) -> None:
    """DELETE a subscription in Graph (gone already is fine) and forget it."""
    try:
        client.delete(f"/subscriptions/{quote(subscription_id, safe='')}")
    except NotFound:
        pass
    delete_subscription_record(session, subscription_id)
    session.commit()


def sync_subscriptions(
    client: GraphClient, session: Session, *, tenant_id: str, plan: SubscriptionPlan,
    records: Sequence[SubscriptionRecord], notification_url: str, lifecycle_url: str | None,
    now: datetime, lifetime: timedelta = DEFAULT_LIFETIME,
    before_create: Callable[[str], object] | None = None,
) -> SyncResult:
    """Carry out ``plan``. ``before_create(mailbox_id)`` runs first for each new subscription (the
    delta baseline, so nothing delivered between baseline and subscription is missed)."""
    if lifetime > MAX_LIFETIME:
        raise ValueError(f"lifetime must be at most {MAX_LIFETIME}")
    out = SyncResult()
    expires = now + lifetime
    by_id = {r.subscription_id: r for r in records}
    for sid in plan.forget:
        delete_subscription_record(session, sid)
        out.forgotten.append(sid)
    session.commit()
    for sid in plan.delete:
        try:
            remove_subscription(client, session, sid)
            out.deleted.append(sid)
        except GraphStatusError as exc:
            session.rollback()
            out.errors[by_id[sid].mailbox_id if sid in by_id else sid] = f"delete: {exc}"
    for sid in plan.renew:
        mailbox = by_id[sid].mailbox_id if sid in by_id else sid
        try:
            renew_subscription(client, session, sid, expires)
            out.renewed.append(sid)
        except NotFound:  # Graph removed it meanwhile: subscribe again
            session.rollback()
            delete_subscription_record(session, sid)
            session.commit()
            plan.create.append(mailbox)
            out.recreated.append(mailbox)
        except GraphStatusError as exc:
            session.rollback()
            out.errors[mailbox] = f"renew: {exc}"
    for mailbox in plan.create:
        try:
            if before_create is not None:
                before_create(mailbox)
            sid = create_subscription(client, session, tenant_id=tenant_id, mailbox_id=mailbox,
                                      notification_url=notification_url, lifecycle_url=lifecycle_url,
                                      expires_at=expires)
            out.created.append(sid)
        except GraphStatusError as exc:
            session.rollback()
            out.errors[mailbox] = f"create: {exc}"
    return out
