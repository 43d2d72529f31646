"""Faults on demand, deterministic (counts and durations, never chance).

Per-request kinds (applied to Graph and Exchange calls, optionally one tenant / one mailbox):
``429`` (``retry_after``), ``503``, ``reset`` (connection closed, no reply), ``slow``
(``delay`` seconds), ``truncate`` (body cut mid-JSON). Each lasts ``count`` requests or
``seconds`` (or until cleared when neither is given); ``path="memberOf"`` limits one to
requests whose path contains that text (case-insensitive), e.g. every directory-role read.

State kinds: ``expire_tokens`` (issued tokens -> 401), ``revoke_consent`` (``client_id``
optional), ``mailbox_404`` (``code``: ``ErrorItemNotFound`` or ``MailboxNotEnabledForRESTAPI``;
until cleared), ``delete_user`` (``user``; after ``count`` more tenant requests, or now).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m365sandbox.core import Sandbox

REQUEST_KINDS = frozenset({"429", "503", "reset", "slow", "truncate", "mailbox_404"})
STATE_KINDS = frozenset({"expire_tokens", "revoke_consent", "delete_user"})
_ids = itertools.count(1)


@dataclass
class Fault:
    """One injected fault."""

    kind: str
    tenant: str | None = None
    mailbox: str | None = None
    count: int | None = None
    until: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "tenant": self.tenant, "mailbox": self.mailbox,
                "count": self.count, "until": self.until, "params": self.params}


class Faults:
    """The fault list of a :class:`~m365sandbox.core.Sandbox`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(self, kind: str, *, tenant: str | None = None, mailbox: str | None = None,
               count: int | None = None, seconds: float | None = None, **params: Any) -> Fault | None:
        """Add a fault; state kinds without a delay act at once and return None."""
        if kind not in REQUEST_KINDS | STATE_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        t = self._sb.tenant(tenant) if tenant else None
        if kind in STATE_KINDS:
            if t is None:
                raise ValueError(f"fault {kind!r} needs a tenant")
            if kind == "expire_tokens":
                self._sb.expire_tokens(t.id)
                return None
            if kind == "revoke_consent":
                self._sb.revoke_consent(t.id, params.get("client_id"))
                return None
            if not count:  # delete_user, now
                self._delete(t.id, params["user"])
                return None
        mailbox_id = mailbox
        if t is not None and mailbox:
            user = t.find_user(mailbox)
            mailbox_id = user["id"] if user else mailbox.lower()
        fault = Fault(kind, t.id if t else None, mailbox_id, count,
                      self._sb.clock() + seconds if seconds is not None else None, params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def _delete(self, tenant_id: str, user_ref: str) -> None:
        t = self._sb.tenant(tenant_id)
        user = t.find_user(user_ref)
        if user is not None:
            t.delete_user(user["id"])

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self, fault_id: int | None = None) -> None:
        """Remove one fault, or all."""
        with self._lock:
            self._faults = [f for f in self._faults if fault_id is not None and f.id != fault_id]

    def on_request(self, tenant_id: str, mailbox_id: str | None, path: str = "") -> Fault | None:
        """Called once per Graph/Exchange request: the fault to apply, if any (counts it)."""
        now = self._sb.clock()
        due: list[tuple[str, str]] = []
        hit: Fault | None = None
        with self._lock:
            keep: list[Fault] = []
            for f in self._faults:
                if f.until is not None and now >= f.until:
                    continue
                if f.tenant is not None and f.tenant != tenant_id:
                    keep.append(f)
                    continue
                if f.kind == "delete_user":
                    f.count = (f.count or 1) - 1
                    if f.count <= 0:
                        due.append((tenant_id, f.params["user"]))
                        continue
                    keep.append(f)
                    continue
                on_path = "path" not in f.params or str(f.params["path"]).lower() in path.lower()
                if hit is None and on_path and (f.mailbox is None or f.mailbox == mailbox_id) \
                        and (f.kind != "mailbox_404" or mailbox_id is not None):
                    hit = f
                    if f.count is not None:
                        f.count -= 1
                        if f.count <= 0:
                            continue
                keep.append(f)
            self._faults = keep
        for tid, user in due:
            self._delete(tid, user)
        return hit
