"""Fetching a tenant's directory from Graph and the Exchange admin API: full or delta.

Full sync (first run, ``full=True``, or an expired delta token):

* ``GET /organization`` (verified domains) and ``GET /subscribedSkus`` (seats);
* ``GET /users/delta?$select=...&$top=999`` and ``GET /groups/delta?$select=...,members``: the
  initial round of a delta query *is* a full listing, and it ends with the deltaLink for the
  next night -- one consistent pass, no window between "list" and "start tracking". Group
  membership arrives as direct members (``members@delta``); transitive membership is computed
  locally (``AddressBook``), which costs nothing, whereas ``/groups/{id}/transitiveMembers``
  costs 5 resource units per group (25,000 units for 5,000 groups, far past the 8,000 per 10 s
  a large tenant's bucket holds);
* ``Get-Recipient -ResultSize Unlimited`` (Exchange): RecipientTypeDetails of every recipient.

Delta sync: the stored deltaLinks, folded onto the previous snapshot's objects. Recipient types
are looked up only for new objects and for users whose licences or enabled state changed
(``Get-Recipient -Identity`` for one, ``-Filter`` on ``ExternalDirectoryObjectId`` for 50 per
call); past ``max_recipient_lookups`` such objects a single full ``Get-Recipient`` is cheaper
and is used instead. A mailbox converted (say, user to
shared) without any Graph-visible change is picked up by the next full sync.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from mailwarden.directory.state import (
    GROUP_SELECT,
    USER_SELECT,
    DirectoryState,
    apply_group_delta,
    apply_user_delta,
)
from mailwarden.graph import DeltaExpired, NotFound

log = logging.getLogger(__name__)

PAGE_SIZE = 999
MAX_RECIPIENT_LOOKUPS = 500
FILTER_BATCH = 50
"""Object ids per ``Get-Recipient -Filter`` call of a delta sync."""


class GraphLike(Protocol):
    def get(self, path: str, *, params: dict[str, Any] | None = ...,
            headers: Any = ...) -> dict[str, Any]: ...
    def iter_pages(self, path: str, *, params: dict[str, Any] | None = ..., headers: Any = ...) -> Any: ...
    def delta(self, path_or_delta_link: str, *, params: dict[str, Any] | None = ...,
              headers: Any = ...) -> Any: ...


class ExchangeLike(Protocol):
    def iter_invoke(self, cmdlet: str, parameters: dict[str, Any] | None = ...) -> Any: ...
    def invoke(self, cmdlet: str, parameters: dict[str, Any] | None = ...) -> list[dict[str, Any]]: ...


class SyncResult:
    """What a sync produced: the new state, the links to store, and how it was obtained."""

    __slots__ = ("changed", "fallback_reason", "links", "mode", "recipient_lookups", "removed", "state")

    def __init__(self, state: DirectoryState, links: dict[str, str], mode: str, *,
                 changed: set[str] | None = None, removed: set[str] | None = None,
                 recipient_lookups: str = "full", fallback_reason: str | None = None) -> None:
        self.state = state
        self.links = links
        self.mode = mode
        self.changed = changed or set()
        self.removed = removed or set()
        self.recipient_lookups = recipient_lookups
        self.fallback_reason = fallback_reason

    def __repr__(self) -> str:
        return (f"SyncResult(mode={self.mode!r}, state={self.state!r}, changed={len(self.changed)}, "
                f"removed={len(self.removed)}, recipient_lookups={self.recipient_lookups!r})")


def fetch_domains(graph: GraphLike) -> list[str]:
    """Verified domain names of the tenant (``/organization``)."""
    org = graph.get("/organization", params={"$select": "id,verifiedDomains"})
    names: list[str] = []
    for o in org.get("value") or []:
        names += [str(d.get("name")) for d in o.get("verifiedDomains") or [] if d.get("name")]
    return names


def fetch_skus(graph: GraphLike) -> list[dict[str, Any]]:
    """The tenant's subscribed SKUs."""
    return list(graph.iter_pages("/subscribedSkus"))


def fetch_recipient_types(exchange: ExchangeLike) -> dict[str, str]:
    """object id -> RecipientTypeDetails for every recipient (``Get-Recipient``)."""
    out: dict[str, str] = {}
    for r in exchange.iter_invoke("Get-Recipient", {"ResultSize": "Unlimited"}):
        oid, rtype = r.get("ExternalDirectoryObjectId"), r.get("RecipientTypeDetails")
        if oid and rtype:
            out[str(oid)] = str(rtype)
    return out


def _opath_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def lookup_recipient_types(exchange: ExchangeLike, ids: Iterable[str],
                           batch: int = FILTER_BATCH) -> dict[str, str | None]:
    """RecipientTypeDetails of some objects (None: not a recipient).

    One object: ``Get-Recipient -Identity``. Several: ``Get-Recipient -Filter
    "ExternalDirectoryObjectId -eq '...' -or ..."``, ``batch`` ids per call.
    """
    wanted = sorted(set(ids))
    out: dict[str, str | None] = dict.fromkeys(wanted)
    if len(wanted) == 1:
        try:
            rows = exchange.invoke("Get-Recipient", {"Identity": wanted[0]})
        except NotFound:
            rows = []
        rtype = rows[0].get("RecipientTypeDetails") if rows else None
        out[wanted[0]] = str(rtype) if rtype else None
        return out
    for start in range(0, len(wanted), batch):
        part = wanted[start:start + batch]
        flt = " -or ".join(f"ExternalDirectoryObjectId -eq {_opath_quote(oid)}" for oid in part)
        for r in exchange.iter_invoke("Get-Recipient", {"Filter": flt, "ResultSize": "Unlimited"}):
            oid, rtype = str(r.get("ExternalDirectoryObjectId") or ""), r.get("RecipientTypeDetails")
            if oid in out and rtype:
                out[oid] = str(rtype)
    return out


def _user_params() -> dict[str, Any]:
    return {"$select": ",".join(USER_SELECT), "$top": PAGE_SIZE}


def _group_params() -> dict[str, Any]:
    return {"$select": ",".join((*GROUP_SELECT, "members")), "$top": PAGE_SIZE}


def full_sync(graph: GraphLike, exchange: ExchangeLike, tenant_id: str) -> SyncResult:
    """Everything from scratch, ending with fresh delta links."""
    state = DirectoryState(tenant_id, domains=fetch_domains(graph), skus=fetch_skus(graph))
    users = graph.delta("/users/delta", params=_user_params())
    apply_user_delta(state, users.items)
    groups = graph.delta("/groups/delta", params=_group_params())
    apply_group_delta(state, groups.items)
    state.recipient_types = fetch_recipient_types(exchange)
    log.info("full directory sync of %s: %s users, %s groups", tenant_id, len(state.users), len(state.groups))
    return SyncResult(state, {"users": users.delta_link, "groups": groups.delta_link}, "full",
                      changed=state.object_ids())


def _licence_key(user: Mapping[str, Any] | None) -> tuple[Any, ...]:
    if user is None:
        return ()
    skus = sorted(str(x.get("skuId")) for x in user.get("assignedLicenses") or [] if isinstance(x, Mapping))
    return (user.get("accountEnabled"), tuple(skus))


def delta_sync(graph: GraphLike, exchange: ExchangeLike, previous: DirectoryState,
               links: Mapping[str, str | None], *,
               max_recipient_lookups: int = MAX_RECIPIENT_LOOKUPS) -> SyncResult:
    """Apply the delta rounds since ``links`` onto a copy of ``previous``. Raises ``DeltaExpired``."""
    if not links.get("users") or not links.get("groups"):
        raise ValueError("a delta sync needs both stored delta links")
    users = graph.delta(str(links["users"]))
    groups = graph.delta(str(links["groups"]))
    state = previous.copy()
    state.domains = sorted({d.lower() for d in fetch_domains(graph)})
    state.skus = fetch_skus(graph)
    before = {str(i.get("id")): _licence_key(previous.users.get(str(i.get("id")))) for i in users.items}
    u_changed, u_removed = apply_user_delta(state, users.items)
    g_changed, g_removed = apply_group_delta(state, groups.items)
    need = {oid for oid in u_changed
            if oid not in previous.users or before.get(oid) != _licence_key(state.users.get(oid))}
    need |= {gid for gid in g_changed if gid not in previous.groups}
    if len(need) > max_recipient_lookups:
        state.recipient_types = fetch_recipient_types(exchange)
        mode = "full"
    else:
        for oid, rtype in lookup_recipient_types(exchange, need).items():
            if rtype:
                state.recipient_types[oid] = rtype
            else:
                state.recipient_types.pop(oid, None)
        mode = f"{len(need)} lookups"
    log.info("delta directory sync of %s: %s users and %s groups changed, %s removed; recipient types: %s",
             previous.tenant_id, len(u_changed), len(g_changed), len(u_removed) + len(g_removed), mode)
    return SyncResult(state, {"users": users.delta_link, "groups": groups.delta_link}, "delta",
                      changed=u_changed | g_changed, removed=u_removed | g_removed, recipient_lookups=mode)


def sync_directory(graph: GraphLike, exchange: ExchangeLike, tenant_id: str,
                   previous: DirectoryState | None, links: Mapping[str, str | None], *,
                   full: bool = False, max_recipient_lookups: int = MAX_RECIPIENT_LOOKUPS) -> SyncResult:
    """Delta when a previous snapshot and its links exist (and ``full`` is False), else full.

    An expired delta token (``DeltaExpired``: 410 / syncStateNotFound / resyncRequired) falls
    back to a full sync; the result's ``fallback_reason`` says so.
    """
    if full or previous is None or not links.get("users") or not links.get("groups"):
        return full_sync(graph, exchange, tenant_id)
    try:
        return delta_sync(graph, exchange, previous, links, max_recipient_lookups=max_recipient_lookups)
    except DeltaExpired as exc:
        log.warning("delta token of %s expired (%s): running a full sync", tenant_id, exc.code)
        result = full_sync(graph, exchange, tenant_id)
        result.fallback_reason = f"delta token expired ({exc.code})"
        return result
