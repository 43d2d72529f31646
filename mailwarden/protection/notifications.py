"""Screen incoming Graph notifications before anything is queued.

A notification is accepted only if its ``subscriptionId`` is one of ours, its ``tenantId`` is
that subscription's tenant, its ``clientState`` matches the subscription's secret (compared in
constant time against the stored hash) and, for a change notification, its resource lies in the
subscribed mailbox. Everything else is refused with a reason and changes nothing.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from mailwarden.store.repositories import get_subscription
from mailwarden.store.types import hash_secret_ref

Kind = Literal["change", "lifecycle"]
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
_RESOURCE = re.compile(r"^/?users/(?P<user>[^/]+)/messages/(?P<message>[^/?]+)$", re.IGNORECASE)
_MAX_ITEMS = 1000


@dataclass(frozen=True)
class Accepted:
    """A notification that passed every check, ready to queue."""

    tenant_id: str
    subscription_id: str
    mailbox_id: str
    kind: Kind
    change_type: str | None = None
    lifecycle_event: str | None = None
    message_id: str | None = None

    def row(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "subscription_id": self.subscription_id,
                "mailbox_id": self.mailbox_id, "kind": self.kind, "change_type": self.change_type,
                "lifecycle_event": self.lifecycle_event, "message_id": self.message_id}


@dataclass(frozen=True)
class Refused:
    """A notification turned away, and why (safe to log: no secret in it)."""

    reason: str
    subscription_id: str | None = None


def _state_matches(stored_hash: str, client_state: Any) -> bool:
    if not isinstance(client_state, str) or not client_state:
        hmac.compare_digest(stored_hash, stored_hash)  # same work either way
        return False
    return hmac.compare_digest(stored_hash, hash_secret_ref(client_state))


def screen(session: Session, body: Any, kind: Kind) -> tuple[list[Accepted], list[Refused]]:
    """Split a notification POST body ``{"value": [...]}`` into accepted and refused items."""
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return [], [Refused("body is not a notification collection")]
    accepted: list[Accepted] = []
    refused: list[Refused] = []
    for item in items[:_MAX_ITEMS]:
        got = _screen_one(session, item, kind)
        (accepted if isinstance(got, Accepted) else refused).append(got)  # type: ignore[arg-type]
    refused.extend(Refused("too many items in one request") for _ in items[_MAX_ITEMS:])
    return accepted, refused


def _screen_one(session: Session, item: Any, kind: Kind) -> Accepted | Refused:
    if not isinstance(item, dict):
        return Refused("item is not an object")
    sid = item.get("subscriptionId")
    if not isinstance(sid, str) or not sid:
        return Refused("no subscriptionId")
    sub = get_subscription(session, sid)
    if sub is None:
        return Refused("unknown subscription", sid)
    if not _state_matches(sub.client_state_hash, item.get("clientState")):
        return Refused("clientState does not match", sid)
    if str(item.get("tenantId") or "").lower() != sub.tenant_id.lower():
        return Refused("tenant does not match the subscription", sid)
    if kind == "lifecycle":
        event = item.get("lifecycleEvent")
        if event not in LIFECYCLE_EVENTS:
            return Refused("unknown lifecycle event", sid)
        return Accepted(sub.tenant_id, sid, sub.mailbox_id, "lifecycle", lifecycle_event=str(event))
    m = _RESOURCE.match(str(item.get("resource") or ""))
    if m is None or m.group("user").lower() != sub.mailbox_id.lower():
        return Refused("resource is not a message of the subscribed mailbox", sid)
    data = item.get("resourceData") if isinstance(item.get("resourceData"), dict) else {}
    message_id = str((data or {}).get("id") or m.group("message"))
    change = item.get("changeType")
    if change not in ("created", "updated", "deleted"):
        return Refused("unknown changeType", sid)
    return Accepted(sub.tenant_id, sid, sub.mailbox_id, "change", change_type=str(change), message_id=message_id)
