"""The directory of one tenant as Graph JSON, and delta rounds applied onto it.

:class:`DirectoryState` is what a sync produces: users and groups (Graph JSON restricted to the
selected properties), direct group memberships, Exchange recipient types, verified domains and
subscribed SKUs. :func:`apply_user_delta` / :func:`apply_group_delta` fold a Graph delta round
(``/users/delta``, ``/groups/delta`` with ``members``) onto a previous state, following Graph's
rules: ``@removed`` deletes, an object may appear more than once (its properties merge), and
``members@delta`` lists added members and, with ``@removed``, removed ones.

It is a plain class (not a dataclass) on purpose: Prefect walks dataclasses passed between
tasks, and a 50,000-user directory should be handed over, not walked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Json = dict[str, Any]

USER_SELECT = (
    "id", "displayName", "userPrincipalName", "mail", "proxyAddresses", "accountEnabled",
    "assignedLicenses", "userType", "onPremisesSyncEnabled", "jobTitle",
)  # fmt: skip
"""User properties a sync asks for (``proxyAddresses`` is not in the default set)."""
GROUP_SELECT = (
    "id", "displayName", "mail", "mailEnabled", "securityEnabled", "groupTypes", "proxyAddresses",
)  # fmt: skip
"""Group properties a sync asks for (``members`` is added for delta membership tracking)."""


class DirectoryState:
    """A tenant's directory: Graph users/groups by id, direct members, recipient types."""

    __slots__ = ("domains", "groups", "members", "recipient_types", "skus", "snapshot", "tenant_id", "users")

    def __init__(
        self,
        tenant_id: str,
        *,
        users: Mapping[str, Json] | None = None,
        groups: Mapping[str, Json] | None = None,
        members: Mapping[str, Iterable[str]] | None = None,
        recipient_types: Mapping[str, str] | None = None,
        domains: Iterable[str] = (),
        skus: Iterable[Json] = (),
    ) -> None:
        self.tenant_id = tenant_id
        self.users: dict[str, Json] = dict(users or {})
        self.groups: dict[str, Json] = dict(groups or {})
        self.members: dict[str, set[str]] = {g: set(m) for g, m in (members or {}).items()}
        self.recipient_types: dict[str, str] = dict(recipient_types or {})
        self.domains: list[str] = sorted({d.strip().lower() for d in domains if d and d.strip()})
        self.skus: list[Json] = list(skus)
        self.snapshot: tuple[int, str] | None = None
        """(id, taken_at) of the stored snapshot this state was loaded from, or a delta applied to."""

    def __repr__(self) -> str:
        return (f"DirectoryState(tenant_id={self.tenant_id!r}, users={len(self.users)}, "
                f"groups={len(self.groups)}, domains={self.domains!r})")

    def copy(self) -> DirectoryState:
        """A copy that :func:`apply_user_delta` / :func:`apply_group_delta` can change freely.

        The object dicts are shared, not copied: the delta functions replace an object's dict
        rather than change it, so an object the delta leaves alone stays the *same* dict in both
        states (which is how :func:`~mailwarden.directory.address_book.changed_objects` finds the
        changed ones without comparing everything).
        """
        out = DirectoryState(
            self.tenant_id,
            users=self.users,
            groups=self.groups,
            members=self.members,
            recipient_types=self.recipient_types,
            domains=self.domains,
            skus=self.skus,
        )
        out.snapshot = self.snapshot
        return out

    def object_ids(self) -> set[str]:
        """Ids of every user and group."""
        return set(self.users) | set(self.groups)


def _clean(item: Mapping[str, Any]) -> Json:
    return {k: v for k, v in item.items() if not k.startswith("@") and "@" not in k}


def _leave_groups(state: DirectoryState, oid: str) -> None:
    """Take ``oid`` out of every group (new sets: the old ones may be shared with another state)."""
    for gid, mids in state.members.items():
        if oid in mids:
            state.members[gid] = mids - {oid}


def apply_user_delta(state: DirectoryState, items: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """Fold ``/users/delta`` items into ``state`` in place; return (changed or new ids, removed ids)."""
    changed: set[str] = set()
    removed: set[str] = set()
    for item in items:
        oid = str(item.get("id") or "")
        if not oid:
            continue
        if "@removed" in item:
            state.users.pop(oid, None)
            state.recipient_types.pop(oid, None)
            _leave_groups(state, oid)
            removed.add(oid)
            changed.discard(oid)
            continue
        state.users[oid] = {**state.users.get(oid, {"id": oid}), **_clean(item)}
        changed.add(oid)
        removed.discard(oid)
    return changed, removed


def apply_group_delta(state: DirectoryState, items: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """Fold ``/groups/delta`` items (with ``members@delta``) into ``state`` in place.

    Returns (changed or new group ids, removed group ids). A removed group also leaves every
    group it was nested in.
    """
    changed: set[str] = set()
    removed: set[str] = set()
    for item in items:
        gid = str(item.get("id") or "")
        if not gid:
            continue
        if "@removed" in item:
            state.groups.pop(gid, None)
            state.members.pop(gid, None)
            state.recipient_types.pop(gid, None)
            _leave_groups(state, gid)
            removed.add(gid)
            changed.discard(gid)
            continue
        state.groups[gid] = {**state.groups.get(gid, {"id": gid}), **_clean(item)}
        mids = set(state.members.get(gid, ()))
        state.members[gid] = mids
        for m in item.get("members@delta") or []:
            mid = str(m.get("id") or "")
            if not mid:
                continue
            if "@removed" in m:
                mids.discard(mid)
            else:
                mids.add(mid)
        changed.add(gid)
        removed.discard(gid)
    return changed, removed
