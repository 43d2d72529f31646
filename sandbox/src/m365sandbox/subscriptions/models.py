"""Change notifications for Outlook messages, as Graph sends them: the subscriptions of a sandbox,
the validation handshake, delivery hooks and the background senders (:class:`SubscriptionHub`).

- **Create** (``POST /subscriptions``, 201): ``changeType``, ``notificationUrl``, ``resource`` and
  ``expirationDateTime`` are required; a message subscription lives at most
  :data:`MAX_MESSAGE_MINUTES` minutes. Before answering, the sandbox POSTs
  ``{notificationUrl}?validationToken=...`` (and to ``lifecycleNotificationUrl`` when given) and
  expects the token back as ``text/plain`` with 200 within :data:`VALIDATION_TIMEOUT` seconds,
  else 400 ``ValidationError``, as Graph does.
- **Notifications**: every message delivered into a subscribed folder (``MailboxState.deliver``:
  the control endpoint's message injection and ``sendMail``) becomes a change notification
  ``{"value": [{subscriptionId, clientState, changeType, resource, resourceData,
  subscriptionExpirationDateTime, tenantId}]}`` POSTed by background senders (several per POST
  when they queue up, bounded retries).
- **Lifecycle** notifications (``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``)
  are sent on demand through the control endpoint to ``lifecycleNotificationUrl``.
- **Expiry** follows the sandbox clock: an expired subscription is gone (404) and sends nothing.
- Control (loopback, no token, :mod:`m365sandbox.control`): ``/_sandbox/tenants/{tid}/subscriptions``
  (list and counters), ``.../notifications`` (``{"enabled": false}`` switches notifications off
  for the tenant: deliveries still happen, nothing is sent, as when Graph misses them) and
  ``.../subscriptions/{id}/lifecycle``.

Only loopback notification URLs are accepted (the sandbox reaches nothing else); real Graph
requires HTTPS, the sandbox also accepts ``http://127.0.0.1``. ``updated``/``deleted`` change
types are accepted but only ``created`` (delivery) notifications are sent.
"""

from __future__ import annotations

import builtins
import logging
import queue
import re
import secrets
import threading
import time
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from m365sandbox.context import GraphHTTPError
from m365sandbox.core import Sandbox

Json = dict[str, Any]
log = logging.getLogger("m365sandbox.subscriptions")

MAX_MESSAGE_MINUTES = 10070
"""Longest lifetime of an Outlook message subscription (Graph: under 7 days)."""
VALIDATION_TIMEOUT = 10.0
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
CLIENT_STATE_MAX = 128
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
SEND_ATTEMPTS = 4
SEND_BACKOFF = (0.1, 0.4, 1.0)
SENDERS = 4
BATCH_MAX = 100
_RESOURCE = re.compile(
    r"^/?users/(?P<user>[^/]+)/(?:mailFolders(?:\('(?P<qf>[^']+)'\)|/(?P<pf>[^/]+))/)?messages$",
    re.IGNORECASE)
_PATCHABLE = frozenset({"expirationDateTime", "notificationUrl"})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_time(text: Any) -> float:
    if not isinstance(text, str) or not text:
        raise GraphHTTPError(400, "InvalidRequest", "expirationDateTime is required.")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphHTTPError(400, "InvalidRequest", f"Invalid expirationDateTime '{text}'.") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass
class Sub:
    """One subscription: its Graph JSON fields and where it listens."""

    id: str
    tenant_id: str
    app_id: str
    user_id: str
    folder_id: str | None
    """The subscribed folder (None: every folder of the mailbox)."""
    mailbox: Any = field(repr=False)
    resource: str = ""
    change_type: str = "created"
    notification_url: str = ""
    lifecycle_url: str | None = None
    client_state: str | None = field(default=None, repr=False)
    expires: float = 0.0

    def to_json(self, context: str | None = None) -> Json:
        out: Json = {"@odata.context": context} if context else {}
        out.update({
            "id": self.id, "resource": self.resource, "applicationId": self.app_id,
            "changeType": self.change_type, "clientState": self.client_state,
            "notificationUrl": self.notification_url, "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url, "expirationDateTime": _iso(self.expires),
            "creatorId": self.app_id, "includeResourceData": False, "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None, "encryptionCertificateId": None, "notificationUrlAppId": None})
        if context is None:
            out.pop("@odata.context", None)
        return out


@dataclass
class _TenantSide:
    tenant: Any = field(repr=False)
    enabled: bool = True
    counters: Counter[str] = field(default_factory=Counter)


@dataclass
class _Outgoing:
    url: str
    item: Json
    tenant_id: str
    attempts: int = 0


class SubscriptionHub:
    """Every subscription of one sandbox, the delivery hooks and the background senders."""

    def __init__(self, sb: Sandbox) -> None:
        self._sb = weakref.ref(sb)  # the registry maps sandbox -> hub: no cycle keeping both alive
        self.lock = threading.RLock()
        self.subs: dict[str, Sub] = {}
        self._tenants: dict[str, _TenantSide] = {}
        self._queue: queue.Queue[_Outgoing] = queue.Queue()
        self._pending = 0
        self._threads: list[threading.Thread] = []

    @property
    def sb(self) -> Sandbox:
        sb = self._sb()
        if sb is None:  # pragma: no cover - the sandbox is gone with its server
            raise RuntimeError("the sandbox of this subscription hub no longer exists")
        return sb

    # -- clock, counters ---------------------------------------------------------------------

    def now(self) -> float:
        return float(self.sb.clock())

    def _side(self, tenant_id: str) -> _TenantSide:
        """Counters and switch of a tenant; a tenant re-added under the same id starts afresh."""
        live = self.sb.tenants.get(tenant_id)
        with self.lock:
            side = self._tenants.get(tenant_id)
            if side is None or side.tenant is not live:
                side = self._tenants[tenant_id] = _TenantSide(live)
            return side

    def _count(self, tenant_id: str, name: str, n: int = 1) -> None:
        with self.lock:
            self._side(tenant_id).counters[name] += n

    def _alive(self, sub: Sub) -> bool:
        t = self.sb.tenants.get(sub.tenant_id)
        return (t is not None and t.mailboxes.get(sub.user_id) is sub.mailbox
                and sub.expires > self.now())

    def _prune(self) -> None:
        with self.lock:
            for sid in [s.id for s in self.subs.values() if not self._alive(s)]:
                self._drop(sid)

    def _drop(self, sid: str) -> Sub | None:
        with self.lock:
            sub = self.subs.pop(sid, None)
            if sub is not None and not any(s.mailbox is sub.mailbox for s in self.subs.values()):
                sub.mailbox.on_deliver = None
            return sub

    # -- the Graph operations ----------------------------------------------------------------

    def _expiry(self, text: Any) -> float:
        at = _parse_time(text)
        now = self.now()
        if at <= now:
            raise GraphHTTPError(400, "InvalidRequest", "Subscription expiration must be in the future.")
        if at > now + MAX_MESSAGE_MINUTES * 60:
            raise GraphHTTPError(400, "InvalidRequest", f"Subscription expiration can only be "
                                 f"{MAX_MESSAGE_MINUTES} minutes in the future.")
        return at

    @staticmethod
    def _check_url(url: Any, name: str) -> str:
        if not isinstance(url, str) or not url:
            raise GraphHTTPError(400, "InvalidRequest", f"{name} is required.")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise GraphHTTPError(400, "InvalidRequest", f"The {name} must be an absolute HTTPS URL.")
        if parts.hostname not in LOOPBACK:
            raise GraphHTTPError(400, "InvalidRequest",
                                 f"The {name} is not reachable from the sandbox (loopback only).")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise GraphHTTPError(400, "InvalidRequest", f"The {name} must be HTTPS.")
        return url

    def create(self, tenant: Any, app_id: str, body: Json) -> Sub:
        """Validate, run the validation handshake, then store the subscription."""
        change = body.get("changeType")
        if not isinstance(change, str) or not change:
            raise GraphHTTPError(400, "InvalidRequest", "changeType is required.")
        kinds = [c.strip() for c in change.split(",")]
        if not kinds or any(k not in CHANGE_TYPES for k in kinds):
            raise GraphHTTPError(400, "InvalidRequest", f"Invalid changeType '{change}'.")
        unknown = set(body) - {"changeType", "notificationUrl", "lifecycleNotificationUrl", "resource",
                               "expirationDateTime", "clientState", "latestSupportedTlsVersion",
                               "includeResourceData", "@odata.type"}
        if unknown:
            raise GraphHTTPError(400, "BadRequest", f"Could not find a property named '{sorted(unknown)[0]}' "
                                 "on type 'microsoft.graph.subscription'.")
        url = self._check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        if lifecycle is not None:
            lifecycle = self._check_url(lifecycle, "lifecycleNotificationUrl")
        state = body.get("clientState")
        if state is not None and (not isinstance(state, str) or len(state) > CLIENT_STATE_MAX):
            raise GraphHTTPError(400, "InvalidRequest",
                                 f"clientState must be a string of at most {CLIENT_STATE_MAX} characters.")
        if body.get("includeResourceData"):
            raise GraphHTTPError(400, "InvalidRequest",
                                 "Rich notifications need an encryptionCertificate (not supported here).")
        resource = body.get("resource")
        m = _RESOURCE.match(resource) if isinstance(resource, str) else None
        if m is None:
            raise GraphHTTPError(400, "ExtensionError", f"Unsupported resource '{resource}'.")
        expires = self._expiry(body.get("expirationDateTime"))
        user = tenant.find_user(unquote(m.group("user")))
        mb = tenant.mailboxes.get(user["id"]) if user else None
        if user is None or mb is None:
            raise GraphHTTPError(404, "ResourceNotFound", f"Resource '{resource}' was not found.")
        user_id = str(user["id"])
        recipient = (getattr(tenant, "recipients", None) or {}).get(user_id) or {}
        if recipient.get("RecipientTypeDetails") == "MailUser":  # hosted on-premises: no Graph mail
            raise GraphHTTPError(404, "MailboxNotEnabledForRESTAPI",
                                 "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
        folder_ref = m.group("qf") or m.group("pf")
        folder = None
        if folder_ref:
            folder = mb.resolve_folder(folder_ref)
            if folder is None:
                raise GraphHTTPError(404, "ResourceNotFound", f"Resource '{resource}' was not found.")
        self.validate(url)
        if lifecycle:
            self.validate(lifecycle)
        sub = Sub(id=str(uuid.uuid4()), tenant_id=tenant.id, app_id=app_id, user_id=user_id,
                  folder_id=folder, mailbox=mb, resource=str(resource), change_type=change,
                  notification_url=url, lifecycle_url=lifecycle, client_state=state, expires=expires)
        with self.lock:
            self.subs[sub.id] = sub
            mb.on_deliver = self._hook(tenant.id, user_id, mb)
        return sub

    def validate(self, url: str) -> None:
        """Graph's validation handshake: the token must come back as text within 10 s."""
        token = "Validation: Testing client application reachability for subscription Request-Id: " + \
            str(uuid.uuid4())
        try:
            with httpx.Client(timeout=VALIDATION_TIMEOUT, verify=False, trust_env=False) as c:  # noqa: S501 - loopback
                reply = c.post(url, params={"validationToken": token},
                               headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.HTTPError as exc:
            raise GraphHTTPError(400, "ValidationError", "Subscription validation request failed. "
                                 f"Notification endpoint must respond with 200 OK to validation request. "
                                 f"({type(exc).__name__})") from exc
        if reply.status_code != 200:
            raise GraphHTTPError(400, "ValidationError", "Subscription validation request failed. "
                                 "Notification endpoint must respond with 200 OK to validation request.")
        if reply.text != token or not reply.headers.get("content-type", "").startswith("text/plain"):
            raise GraphHTTPError(400, "ValidationError", "Subscription validation request failed. "
                                 "Response must exactly match validationToken query parameter.")

    def get(self, tenant_id: str, app_id: str, sid: str) -> Sub:
        self._prune()
        with self.lock:
            sub = self.subs.get(sid)
        if sub is None or sub.tenant_id != tenant_id or sub.app_id != app_id:
            raise GraphHTTPError(404, "ResourceNotFound", f"The object was not found: {sid}")
        return sub

    def list(self, tenant_id: str, app_id: str) -> builtins.list[Sub]:
        self._prune()
        with self.lock:
            return [s for s in self.subs.values() if s.tenant_id == tenant_id and s.app_id == app_id]

    def update(self, tenant_id: str, app_id: str, sid: str, body: Json) -> Sub:
        sub = self.get(tenant_id, app_id, sid)
        unknown = set(body) - _PATCHABLE - {"@odata.type"}
        if unknown:
            raise GraphHTTPError(400, "InvalidRequest", f"Only {sorted(_PATCHABLE)} can be updated.")
        expires = self._expiry(body["expirationDateTime"]) if "expirationDateTime" in body else None
        if "notificationUrl" in body:
            url = self._check_url(body["notificationUrl"], "notificationUrl")
            self.validate(url)
            sub.notification_url = url
        if expires is not None:
            sub.expires = expires
        return sub

    def delete(self, tenant_id: str, app_id: str, sid: str) -> None:
        self.get(tenant_id, app_id, sid)
        self._drop(sid)

    # -- delivery ----------------------------------------------------------------------------

    def _hook(self, tenant_id: str, user_id: str, mb: Any) -> Any:
        def delivered(message_id: str, folder_id: str) -> None:
            self.delivered(tenant_id, user_id, mb, message_id, folder_id)
        return delivered

    def delivered(self, tenant_id: str, user_id: str, mb: Any, message_id: str, folder_id: str) -> None:
        """A message arrived: queue a ``created`` notification per live matching subscription."""
        now = self.now()
        with self.lock:
            subs = [s for s in self.subs.values()
                    if s.mailbox is mb and s.expires > now and "created" in s.change_type
                    and (s.folder_id is None or s.folder_id == folder_id)]
            if not subs:
                return
            self._count(tenant_id, "delivered")
            if not self._side(tenant_id).enabled:
                self._count(tenant_id, "suppressed", len(subs))
                return
            for s in subs:
                path = f"Users/{user_id}/Messages/{message_id}"
                item = {"subscriptionId": s.id, "subscriptionExpirationDateTime": _iso(s.expires),
                        "changeType": "created", "resource": path,
                        "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": path,
                                         "@odata.etag": f'W/"{secrets.token_urlsafe(12)}"', "id": message_id},
                        "clientState": s.client_state, "tenantId": tenant_id}
                self._enqueue(_Outgoing(s.notification_url, item, tenant_id))

    def lifecycle(self, tenant_id: str, sid: str, event: str) -> Sub:
        """Send a lifecycle notification; ``subscriptionRemoved`` also removes the subscription."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"event must be one of {sorted(LIFECYCLE_EVENTS)}")
        self._prune()
        with self.lock:
            sub = self.subs.get(sid)
            if sub is None or sub.tenant_id != tenant_id:
                raise KeyError(sid)
            if not sub.lifecycle_url:
                raise ValueError("the subscription has no lifecycleNotificationUrl")
            if event == "subscriptionRemoved":
                self._drop(sid)
            item = {"subscriptionId": sub.id, "subscriptionExpirationDateTime": _iso(sub.expires),
                    "tenantId": tenant_id, "clientState": sub.client_state, "lifecycleEvent": event}
            self._count(tenant_id, f"lifecycle_{event}")
            self._enqueue(_Outgoing(sub.lifecycle_url, item, tenant_id))
        return sub

    def tenant_subscriptions(self, tenant_id: str) -> builtins.list[Json]:
        """Every live subscription of a tenant, whichever app made it, with its mailbox owner."""
        self._prune()
        with self.lock:
            return [{**s.to_json(), "userId": s.user_id} for s in self.subs.values() if s.tenant_id == tenant_id]

    def set_enabled(self, tenant_id: str, enabled: bool) -> None:
        with self.lock:
            self._side(tenant_id).enabled = enabled

    def counters(self, tenant_id: str) -> Json:
        with self.lock:
            side = self._side(tenant_id)
            return {"enabled": side.enabled, "pending": self._pending, **dict(side.counters)}

    # -- senders -----------------------------------------------------------------------------

    def _enqueue(self, out: _Outgoing) -> None:
        with self.lock:
            self._pending += 1
            if not self._threads:
                for n in range(SENDERS):
                    t = threading.Thread(target=self._send_loop, name=f"sandbox-notify-{n}", daemon=True)
                    t.start()
                    self._threads.append(t)
        self._queue.put(out)

    def _send_loop(self) -> None:
        with httpx.Client(timeout=10.0, verify=False, trust_env=False) as client:  # noqa: S501 - loopback
            while True:
                batch = [self._queue.get()]
                while len(batch) < BATCH_MAX:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                groups: dict[str, builtins.list[_Outgoing]] = {}
                for out in batch:
                    groups.setdefault(out.url, []).append(out)
                for url, items in groups.items():
                    self._post(client, url, items)

    def _post(self, client: httpx.Client, url: str, items: builtins.list[_Outgoing]) -> None:
        body = {"value": [o.item for o in items]}
        ok = False
        for attempt in range(SEND_ATTEMPTS):
            try:
                ok = client.post(url, json=body).is_success
            except httpx.HTTPError:
                ok = False
            if ok:
                break
            if attempt < len(SEND_BACKOFF):
                time.sleep(SEND_BACKOFF[attempt])
        for out in items:
            self._count(out.tenant_id, "notified" if ok else "failed")
        with self.lock:
            self._pending -= len(items)
        if not ok:
            log.warning("gave up sending %d notification(s) to %s", len(items), url)


_HUBS: weakref.WeakKeyDictionary[Sandbox, SubscriptionHub] = weakref.WeakKeyDictionary()
_HUBS_LOCK = threading.Lock()


def hub_of(sb: Sandbox) -> SubscriptionHub:
    """The sandbox's subscription hub (one per sandbox)."""
    with _HUBS_LOCK:
        hub = _HUBS.get(sb)
        if hub is None:
            hub = _HUBS[sb] = SubscriptionHub(sb)
        return hub
