"""The directory's behaviour over one tenant's state: users, groups, members, roles, changes.

:class:`DirectoryBackend` is what the Graph routes call (``responses``): it finds objects, applies
changes (a user's properties, a password reset, a sessions revocation) and answers delta rounds
and memberships from :class:`~m365sandbox.state.TenantState` and its change log. It knows
nothing of HTTP requests; refusals are :class:`~m365sandbox.context.GraphHTTPError` with Graph's
codes, as the service would give them. Shapes (which properties a response shows) live here too,
since they are the model of each resource type.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from m365sandbox.context import GraphHTTPError
from m365sandbox.state import PasswordChange, TenantState, hash_password, iso_now

Json = dict[str, Any]
Predicate = Callable[[Json], bool]

USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
"""Graph's default property set of a user, in Graph's order."""
USER_PROPERTIES = frozenset({
    *USER_DEFAULT, "accountEnabled", "assignedLicenses", "assignedPlans", "city", "companyName",
    "country", "createdDateTime", "creationType", "department", "employeeId", "externalUserState",
    "identities", "lastPasswordChangeDateTime", "mailNickname", "onPremisesImmutableId",
    "onPremisesSyncEnabled", "otherMails", "passwordPolicies", "proxyAddresses",
    "signInSessionsValidFromDateTime", "usageLocation", "userType", "deletedDateTime",
    "showInAddressList", "onPremisesDomainName", "onPremisesSamAccountName"})
"""Every user property the sandbox can serve (``$select``)."""
READ_ONLY_USER = frozenset({"id", "lastPasswordChangeDateTime"})
GROUP_DEFAULT = (
    "id", "deletedDateTime", "classification", "createdDateTime", "description",
    "displayName", "expirationDateTime", "groupTypes", "isAssignableToRole", "mail", "mailEnabled",
    "mailNickname", "membershipRule", "membershipRuleProcessingState", "onPremisesDomainName",
    "onPremisesLastSyncDateTime", "onPremisesNetBiosName", "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "preferredDataLocation",
    "preferredLanguage", "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions",
    "resourceProvisioningOptions", "securityEnabled", "securityIdentifier", "theme", "visibility",
    "onPremisesProvisioningErrors", "serviceProvisioningErrors")
"""Graph's default property set of a group, in Graph's order."""
GROUP_PROPERTIES = frozenset({*GROUP_DEFAULT, "members"})
"""Every group property the sandbox can serve (``members`` only in a delta ``$select``)."""
USER_FILTERABLE = {"accountEnabled", "userType", "mail", "userPrincipalName", "displayName", "id",
                   "givenName", "surname", "proxyAddresses", "mailNickname", "department", "jobTitle"}
GROUP_FILTERABLE = {"displayName", "mail", "mailEnabled", "securityEnabled", "groupTypes", "id",
                    "mailNickname", "proxyAddresses"}
ROLE_DEFAULT = ("id", "deletedDateTime", "description", "displayName", "roleTemplateId")
TYPES = {"user": "#microsoft.graph.user", "group": "#microsoft.graph.group",
         "role": "#microsoft.graph.directoryRole"}


def not_found(ref: str) -> GraphHTTPError:
    return GraphHTTPError(404, "Request_ResourceNotFound", f"Resource '{ref}' does not exist or one of "
                          "its queried reference-property objects are not present.")


def strong_password(pw: str) -> bool:
    """Azure AD complexity: 8-256 characters and three of lower, upper, digit, symbol."""
    if not 8 <= len(pw) <= 256:
        return False
    classes = [re.search(r"[a-z]", pw), re.search(r"[A-Z]", pw), re.search(r"\d", pw),
               re.search(r"[^A-Za-z0-9]", pw)]
    return sum(1 for c in classes if c) >= 3


@dataclass
class DeltaEntry:
    """One object of a delta round: its current JSON (None: deleted) and, for a group whose
    members are tracked, the member ids added and removed in the round."""

    id: str
    obj: Json | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class Memberships:
    """What a directory object belongs to: groups and directory roles, as ids."""

    groups: list[str]
    roles: list[str]


class DirectoryBackend:
    """The directory of one tenant; guard multi-step reads with ``tenant.lock`` (methods do)."""

    def __init__(self, tenant: TenantState, clock: Callable[[], float]) -> None:
        self.t = tenant
        self.clock = clock

    # -- lookups -----------------------------------------------------------------------------

    def user(self, ref: str) -> Json:
        """A user by object id or userPrincipalName (case-insensitive); 404 as Graph otherwise."""
        t = self.t
        with t.lock:
            user = t.users.get(ref)
            if user is None:
                low = ref.lower()
                user = next((u for u in t.users.values()
                             if str(u.get("userPrincipalName", "")).lower() == low), None)
        if user is None:
            raise not_found(ref)
        return user

    def group(self, ref: str) -> Json:
        group = self.t.groups.get(ref)
        if group is None:
            raise not_found(ref)
        return group

    def users(self, pred: Predicate | None = None) -> list[Json]:
        with self.t.lock:
            return [u for u in self.t.users.values() if pred is None or pred(u)]

    def groups(self, pred: Predicate | None = None) -> list[Json]:
        with self.t.lock:
            return [g for g in self.t.groups.values() if pred is None or pred(g)]

    def members(self, group_id: str, *, transitive: bool) -> list[tuple[str, Json]]:
        """(kind, object) of each member of a group that is still in the directory."""
        t = self.t
        with t.lock:
            self.group(group_id)
            ids = t.transitive_members(group_id) if transitive else list(t.members.get(group_id, []))
            out = []
            for oid in ids:
                kind = t.object_type(oid)
                if kind is not None:
                    out.append((kind, t.users[oid] if kind == "user" else t.groups[oid]))
            return out

    # -- changes -----------------------------------------------------------------------------

    def update_user(self, ref: str, body: Json) -> None:
        """``PATCH /users/{ref}``: writable properties and a ``passwordProfile`` reset."""
        user = self.user(ref)
        patch: Json = {}
        for key, value in body.items():
            if key == "passwordProfile":
                continue
            if key not in USER_PROPERTIES or key in READ_ONLY_USER:
                raise GraphHTTPError(400, "Request_BadRequest", f"Property '{key}' is read-only or does "
                                     "not exist on type 'microsoft.graph.user'.")
            patch[key] = value
        profile = body.get("passwordProfile")
        t = self.t
        with t.lock:
            if profile is not None:
                pw = profile.get("password") if isinstance(profile, dict) else None
                if not isinstance(pw, str) or not strong_password(pw):
                    raise GraphHTTPError(400, "Request_BadRequest", "The specified password does not "
                                         "comply with password complexity requirements. Please provide a "
                                         "different password.")
                now = self.clock()
                t.password_changes.append(PasswordChange(
                    user["id"], now, hash_password(pw), bool(profile.get("forceChangePasswordNextSignIn"))))
                patch["lastPasswordChangeDateTime"] = iso_now(now)
            if patch:
                t.update_user(user["id"], patch)

    def revoke_sessions(self, ref: str) -> None:
        """``revokeSignInSessions``: every refresh token issued before now stops working."""
        user = self.user(ref)
        self.t.update_user(user["id"], {"signInSessionsValidFromDateTime": iso_now(self.clock())})

    # -- delta -------------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The last change's sequence number: where a new round starts from."""
        return self.t.seq

    @property
    def epoch(self) -> int:
        """Part of every delta token; bumping it makes them all answer 410."""
        return self.t.delta_epoch

    def delta(self, kind: str, since: int | None, upto: int, *, with_members: bool) -> list[DeltaEntry]:
        """The ``user``/``group`` objects of a round: every one (``since`` None, the first round)
        or those changed in ``(since, upto]`` of the change log, each once, in log order."""
        t = self.t
        store = t.users if kind == "user" else t.groups
        with t.lock:
            if since is None:
                return [DeltaEntry(oid, obj, list(t.members.get(oid, [])) if with_members else [])
                        for oid, obj in store.items()]
            order: list[str] = []
            added: dict[str, list[str]] = {}
            removed: dict[str, list[str]] = {}
            # the log is in seq order: start at the first change after ``since``, stop after ``upto``
            for seq, k, oid, mdelta in t.changes[bisect.bisect_right(t.changes, (since, "\uffff")):]:
                if seq > upto:
                    break
                if k != kind:
                    continue
                if oid not in added:
                    order.append(oid)
                    added[oid], removed[oid] = [], []
                added[oid] += (mdelta or {}).get("added", [])
                removed[oid] += (mdelta or {}).get("removed", [])
            return [DeltaEntry(oid, store.get(oid), added[oid] if with_members else [],
                               removed[oid] if with_members else []) for oid in order]

    def object_type(self, oid: str) -> str | None:
        return self.t.object_type(oid)

    # -- roles -------------------------------------------------------------------------------

    def memberships(self, ref: str, *, transitive: bool) -> Memberships:
        """The groups and directory roles of a user (directly, or through nested groups)."""
        uid = str(self.user(ref)["id"])
        t = self.t
        with t.lock:
            return Memberships([g for g in t.groups_of(uid, transitive=transitive) if g in t.groups],
                               t.roles_of(uid, transitive=transitive))

    def groups_by_id(self, ids: Iterable[str]) -> list[Json]:
        with self.t.lock:
            return [self.t.groups[g] for g in ids]

    def roles(self, ids: Iterable[str] | None = None) -> list[Json]:
        """Activated directory roles (all, or those of ``ids``)."""
        with self.t.lock:
            return list(self.t.roles.values()) if ids is None else [self.t.roles[i] for i in ids]
