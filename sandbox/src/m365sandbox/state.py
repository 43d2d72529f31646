"""Live, mutable state of one sandbox tenant (like moto's per-account backends).

Everything a tenant holds sits behind its own ``threading.RLock``; route handlers take
``with tenant.lock:`` around reads that must be consistent and around every write. A change
log (``seq``/``changes``) feeds ``/users/delta`` and ``/groups/delta``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from m365sandbox.mail import MailboxState
from m365sandbox.seed import GroundTruth, TenantSeed

Json = dict[str, Any]

CLOUD_RESOURCES: dict[str, tuple[str, str]] = {
    "global": ("https://graph.microsoft.com", "https://outlook.office365.com"),
    "usgov-gcchigh": ("https://graph.microsoft.us", "https://outlook.office365.us"),
    "usgov-dod": ("https://dod-graph.microsoft.us", "https://webmail.apps.mil"),
    "china": ("https://microsoftgraph.chinacloudapi.cn", "https://partner.outlook.cn"),
}
"""cloud -> (Graph resource, Exchange resource): the token audiences a tenant accepts."""


ROLE_TEMPLATES: dict[str, str] = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
}
"""Directory role display name -> Entra ID's built-in role template id."""


def iso_now(ts: float) -> str:
    """Graph's DateTimeOffset text for a POSIX timestamp."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hash_password(password: str) -> str:
    """A salted PBKDF2 hash; the clear password is never stored."""
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 50_000)
    return base64.b64encode(salt + digest).decode()


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` result."""
    raw = base64.b64decode(stored)
    return hashlib.pbkdf2_hmac("sha256", password.encode(), raw[:16], 50_000) == raw[16:]


@dataclass
class Consent:
    """An app's admin consent in a tenant: the tier and when it becomes effective."""

    tier: str
    roles: frozenset[str]
    effective_at: float


@dataclass
class PasswordChange:
    """A recorded password reset (hash only)."""

    user_id: str
    at: float
    password_hash: str
    force_change: bool


@dataclass
class TenantState:
    """One tenant: directory objects (Graph JSON), Exchange recipients, mailboxes, consents."""

    id: str
    domain: str
    cloud: str
    display_name: str
    organization: Json
    users: dict[str, Json] = field(default_factory=dict)
    groups: dict[str, Json] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    skus: list[Json] = field(default_factory=list)
    recipients: dict[str, Json] = field(default_factory=dict)
    mailboxes: dict[str, Any] = field(default_factory=dict)
    truth: GroundTruth = field(default_factory=GroundTruth)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    consents: dict[str, Consent] = field(default_factory=dict)
    deny_consent: str | None = None
    """When set, /adminconsent refuses with this description (``access_denied``)."""
    consent_propagation_seconds: float = 0.0
    """How long a consent granted through /adminconsent stays ineffective (403 on API calls)."""
    issued_tokens: set[str] = field(default_factory=set, repr=False)
    revoked_tokens: set[str] = field(default_factory=set, repr=False)
    """Token ids (``uti``) made invalid by the ``expire_tokens`` fault."""
    deleted_users: dict[str, Json] = field(default_factory=dict)
    deleted_groups: dict[str, Json] = field(default_factory=dict)
    password_changes: list[PasswordChange] = field(default_factory=list, repr=False)
    onprem_accounts: dict[str, Json] = field(default_factory=dict, repr=False)
    """On-premises Exchange (EWS) service accounts: lower-cased user name -> ``{"password_hash"}``."""
    seq: int = 0
    changes: list[tuple[int, str, str, Json | None]] = field(default_factory=list, repr=False)
    """(seq, "user"|"group", object id, member delta {"added": [...], "removed": [...]} or None)."""
    delta_epoch: int = 0
    """Bumped to invalidate every delta token (410 syncStateNotFound)."""
    roles: dict[str, Json] = field(default_factory=dict)
    """Activated directory roles (Graph ``directoryRole``) by id."""
    role_members: dict[str, list[str]] = field(default_factory=dict)
    """directoryRole id -> direct member ids: users, or groups with ``isAssignableToRole``."""
    _index: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_seed(cls, seed: TenantSeed) -> TenantState:
        """Load a generated :class:`TenantSeed` into live state (deep copies: the seed stays)."""
        org = copy.deepcopy(seed.organization) or {}
        org.setdefault("id", seed.tenant_id)
        org.setdefault("displayName", seed.display_name)
        org.setdefault("verifiedDomains", [
            {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
             "isInitial": True, "name": seed.domain, "type": "Managed"}])
        t = cls(id=seed.tenant_id, domain=seed.domain, cloud=seed.cloud,
                display_name=seed.display_name, organization=org,
                users={u["id"]: copy.deepcopy(u) for u in seed.users},
                groups={g["id"]: copy.deepcopy(g) for g in seed.groups},
                members={k: list(v) for k, v in seed.members.items()},
                skus=copy.deepcopy(seed.skus),
                recipients=copy.deepcopy(seed.recipients),
                truth=seed.truth)
        for uid, mb in seed.mailboxes.items():
            t.mailboxes[uid] = MailboxState.from_seed(mb)
        for role_name, member_ids in seed.role_members.items():
            for member_id in member_ids:
                t.assign_role(role_name, member_id)
        t.reindex()
        return t

    @property
    def graph_resource(self) -> str:
        return CLOUD_RESOURCES[self.cloud][0]

    @property
    def exchange_resource(self) -> str:
        return CLOUD_RESOURCES[self.cloud][1]

    @property
    def domains(self) -> list[str]:
        names = [d.get("name", "") for d in self.organization.get("verifiedDomains", [])]
        return [n.lower() for n in names if n] or [self.domain.lower()]

    # -- lookups -------------------------------------------------------------------------

    def reindex(self) -> None:
        """Rebuild the UPN/mail/proxy-address index after bulk changes."""
        with self.lock:
            self._index = {}
            for u in self.users.values():
                self._index_user(u, add=True)

    @staticmethod
    def _keys(u: Json) -> list[str]:
        keys = [k.lower() for k in (u.get("userPrincipalName"), u.get("mail")) if k]
        return keys + [a.split(":", 1)[-1].lower() for a in u.get("proxyAddresses") or []]

    def _index_user(self, u: Json, *, add: bool) -> None:
        for key in self._keys(u):
            if add:
                self._index[key] = u["id"]
            elif self._index.get(key) == u["id"]:
                del self._index[key]

    def find_user(self, ref: str) -> Json | None:
        """A user by object id, UPN, mail or any proxy address (case-insensitive)."""
        with self.lock:
            if ref in self.users:
                return self.users[ref]
            low = ref.lower()
            if low in self.users:
                return self.users[low]
            uid2 = self._index.get(low)
            return self.users.get(uid2) if uid2 else None

    # -- changes -------------------------------------------------------------------------

    def record(self, kind: str, object_id: str, members: Json | None = None) -> None:
        """Note a change of a user or group for delta queries."""
        with self.lock:
            self.seq += 1
            self.changes.append((self.seq, kind, object_id, members))

    def update_user(self, user_id: str, patch: Json) -> None:
        """Apply property changes to a user and log them."""
        with self.lock:
            user = self.users[user_id]
            self._index_user(user, add=False)
            user.update(patch)
            self._index_user(user, add=True)
            self.record("user", user_id)

    def delete_user(self, user_id: str) -> bool:
        """Soft-delete a user (it leaves groups and shows as ``@removed`` in delta)."""
        with self.lock:
            user = self.users.pop(user_id, None)
            if user is None:
                return False
            self.deleted_users[user_id] = user
            for gid, mids in self.members.items():
                if user_id in mids:
                    mids.remove(user_id)
                    self.record("group", gid, {"removed": [user_id]})
            self.record("user", user_id)
            self._index_user(user, add=False)
            return True

    def add_member(self, group_id: str, member_id: str) -> None:
        """Add a direct member to a group and log it."""
        with self.lock:
            mids = self.members.setdefault(group_id, [])
            if member_id not in mids:
                mids.append(member_id)
                self.record("group", group_id, {"added": [member_id]})

    def remove_member(self, group_id: str, member_id: str) -> None:
        """Remove a direct member from a group and log it."""
        with self.lock:
            mids = self.members.get(group_id, [])
            if member_id in mids:
                mids.remove(member_id)
                self.record("group", group_id, {"removed": [member_id]})

    def object_type(self, object_id: str) -> str | None:
        """``user``/``group`` for a directory object id of this tenant."""
        if object_id in self.users:
            return "user"
        if object_id in self.groups:
            return "group"
        return None

    # -- directory roles -----------------------------------------------------------------

    def assign_role(self, role_name: str, member_id: str) -> Json:
        """Make ``member_id`` (a user, or a group that is then marked role-assignable) a direct
        member of the directory role ``role_name``, activating the role from its template first."""
        template = ROLE_TEMPLATES.get(role_name)
        if template is None:
            raise ValueError(f"unknown directory role {role_name!r}; known: {sorted(ROLE_TEMPLATES)}")
        with self.lock:
            kind = self.object_type(member_id)
            if kind is None:
                raise KeyError(member_id)
            if kind == "group":
                self.groups[member_id]["isAssignableToRole"] = True
            role = next((r for r in self.roles.values() if r["roleTemplateId"] == template), None)
            if role is None:
                role_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.id}/directoryRoles/{template}"))
                role = {"id": role_id, "deletedDateTime": None, "displayName": role_name,
                        "description": f"{role_name} (sandbox)", "roleTemplateId": template}
                self.roles[role_id] = role
            members = self.role_members.setdefault(role["id"], [])
            if member_id not in members:
                members.append(member_id)
            return role

    def groups_of(self, object_id: str, *, transitive: bool) -> list[str]:
        """Ids of the groups ``object_id`` is a member of (directly, or through nested groups)."""
        with self.lock:
            direct = [gid for gid, mids in self.members.items() if object_id in mids]
            if not transitive:
                return direct
            seen: list[str] = []
            stack = list(direct)
            while stack:
                gid = stack.pop()
                if gid in seen:
                    continue
                seen.append(gid)
                stack.extend(g for g, mids in self.members.items() if gid in mids)
            return seen

    def roles_of(self, object_id: str, *, transitive: bool) -> list[str]:
        """Ids of the directory roles ``object_id`` holds: directly, or also through the
        (role-assignable) groups it belongs to."""
        with self.lock:
            holders = {object_id, *(self.groups_of(object_id, transitive=True) if transitive else ())}
            return [rid for rid, mids in self.role_members.items() if holders.intersection(mids)]

    def transitive_members(self, group_id: str) -> list[str]:
        """Every member reached through nested groups (groups included), each once."""
        with self.lock:
            seen: list[str] = []
            stack = list(reversed(self.members.get(group_id, [])))
            visited = {group_id}
            while stack:
                mid = stack.pop()
                if mid in seen:
                    continue
                seen.append(mid)
                if mid in self.groups and mid not in visited:
                    visited.add(mid)
                    stack.extend(reversed(self.members.get(mid, [])))
            return seen
