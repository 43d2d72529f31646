"""Graph v1.0 directory routes: organization, subscribedSkus, users, groups, members, delta,
``$count``, memberships and directory roles.

Each handler checks the token's permissions, parses the query (``$select``, ``$filter``,
``$top``/``Prefer: odata.maxpagesize``, ``$count``, state tokens), calls
:class:`~m365sandbox.directory.models.DirectoryBackend` and serialises with Graph's envelopes:
``@odata.context`` on the tenant's Graph host, ``@odata.nextLink``/``@odata.deltaLink`` absolute
on the sandbox's own host and on the path the client sent (so ``delta()`` stays ``delta()``).

As Graph does, a membership the token may not read in full comes back as ``@odata.type`` and
``id`` only; the casts ``/microsoft.graph.directoryRole`` and ``/microsoft.graph.group`` narrow a
membership list to one type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response

from m365sandbox.context import GraphHTTPError, require_role
from m365sandbox.directory.models import (
    GROUP_DEFAULT,
    GROUP_FILTERABLE,
    GROUP_PROPERTIES,
    ROLE_DEFAULT,
    TYPES,
    USER_DEFAULT,
    USER_FILTERABLE,
    USER_PROPERTIES,
    DeltaEntry,
    DirectoryBackend,
)
from m365sandbox.odata import (
    check_select,
    context_url,
    decode_token,
    encode_token,
    page_size,
    parse_filter,
    project,
    select_of,
    self_link,
)
from m365sandbox.state import TenantState

Json = dict[str, Any]

READ_USERS = ("User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All", "Directory.Read.All",
              "Directory.ReadWrite.All")
WRITE_USERS = ("User.ReadWrite.All", "Directory.ReadWrite.All")
REVOKE = ("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
READ_GROUPS = ("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
               "Directory.ReadWrite.All")
READ_ORG = ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
            "Directory.ReadWrite.All")
READ_SKUS = ("Organization.Read.All", "Directory.Read.All", "LicenseAssignment.Read.All")
READ_ROLES = ("RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory",
              "Directory.Read.All", "Directory.ReadWrite.All")
CASTS = {"microsoft.graph.directoryRole": "role", "microsoft.graph.group": "group"}
DEFAULT_PAGE, MAX_PAGE = 100, 999


# -- request helpers ---------------------------------------------------------------------------


def _tenant(request: Request) -> TenantState:
    return request.state.tenant


def backend(request: Request) -> DirectoryBackend:
    """The directory of the caller's tenant, on the sandbox's clock."""
    return DirectoryBackend(_tenant(request), request.app.state.sandbox.clock)


def _may(request: Request, any_of: tuple[str, ...]) -> bool:
    return bool(request.state.roles.intersection(any_of))


def _eventual(request: Request) -> bool:
    """Whether the request is an advanced query (``ConsistencyLevel: eventual``)."""
    return request.headers.get("consistencylevel", "").lower() == "eventual"


def _filter(request: Request, allowed: set[str]) -> Callable[[Json], bool] | None:
    flt = request.query_params.get("$filter")
    return parse_filter(flt, allowed) if flt else None


def _ctx(t: TenantState, entity_set: str, select: list[str] | None) -> str:
    return context_url(t.graph_resource, f"{entity_set}({','.join(select)})" if select else entity_set)


def page(request: Request, items: list[Json], entity_ctx: str, extra: Json | None = None,
         shape: Callable[[Json], Json] | None = None) -> Json:
    """One page of ``items`` (``shape`` projects the page only), with a nextLink when more follow."""
    top = page_size(request, DEFAULT_PAGE, MAX_PAGE)
    token = request.query_params.get("$skiptoken")
    offset = 0
    if token:
        data = decode_token(token)
        if data is None or "o" not in data:
            raise GraphHTTPError(400, "Request_BadRequest", "The specified page token value has expired "
                                 "and can no longer be included in your request.")
        offset, top = int(data["o"]), int(data.get("t", top))
    out: Json = {"@odata.context": entity_ctx, **(extra or {})}
    end = offset + top
    if end < len(items):
        params = {k: v for k, v in request.query_params.items() if k not in ("$skiptoken", "$top")}
        params["$skiptoken"] = encode_token({"o": end, "t": top})
        out["@odata.nextLink"] = self_link(request, params)
    out["value"] = [shape(i) for i in items[offset:end]] if shape else items[offset:end]
    return out


def _collection(request: Request, rows_of: Callable[[Callable[[Json], bool] | None], list[Json]],
                entity_set: str, properties: frozenset[str], filterable: set[str],
                default: tuple[str, ...]) -> Json:
    """A directory collection: ``$select``, ``$filter``, ``$count`` and paging, as Graph serves them.
    ``$count=true`` counts in an advanced query and is silently ignored otherwise (Graph)."""
    select = select_of(request)
    check_select(select, properties, entity_set.rstrip("s"))
    count = request.query_params.get("$count", "").lower() == "true" and _eventual(request)
    rows = rows_of(_filter(request, filterable))
    extra = {"@odata.count": len(rows)} if count else None
    return page(request, rows, _ctx(_tenant(request), entity_set, select), extra,
                lambda o: project(o, select, default))


def _count(request: Request, rows: list[Any]) -> Response:
    """``/$count``: the number as text, in an advanced query only (else Graph's 400)."""
    if not _eventual(request):
        raise GraphHTTPError(400, "Request_BadRequest", "$count is not currently supported.")
    return PlainTextResponse(str(len(rows)))


def member_json(kind: str, obj: Json) -> Json:
    """A directory object as a members/transitiveMembers item (typed, default properties)."""
    return project(obj, None, USER_DEFAULT if kind == "user" else GROUP_DEFAULT, TYPES[kind])


# -- organization ------------------------------------------------------------------------------


def organization(request: Request) -> Json:
    require_role(request, *READ_ORG)
    t = _tenant(request)
    return {"@odata.context": context_url(t.graph_resource, "organization"), "value": [t.organization]}


def subscribed_skus(request: Request) -> Json:
    require_role(request, *READ_SKUS)
    t = _tenant(request)
    with t.lock:
        return {"@odata.context": context_url(t.graph_resource, "subscribedSkus"), "value": list(t.skus)}


# -- users -------------------------------------------------------------------------------------


def list_users(request: Request) -> Json:
    require_role(request, *READ_USERS)
    return _collection(request, backend(request).users, "users", USER_PROPERTIES, USER_FILTERABLE,
                       USER_DEFAULT)


def count_users(request: Request) -> Response:
    require_role(request, *READ_USERS)
    return _count(request, backend(request).users(_filter(request, USER_FILTERABLE)))


def get_user(ref: str, request: Request) -> Json:
    require_role(request, *READ_USERS)
    select = select_of(request)
    check_select(select, USER_PROPERTIES, "user")
    user = backend(request).user(ref)
    ctx = context_url(_tenant(request).graph_resource,
                      f"users({','.join(select)})/$entity" if select else "users/$entity")
    return {"@odata.context": ctx, **project(user, select, USER_DEFAULT)}


async def patch_user(ref: str, request: Request) -> Response:
    require_role(request, *WRITE_USERS)
    try:
        body = await request.json()
    except ValueError as exc:
        raise GraphHTTPError(400, "BadRequest", "Empty Payload. JSON content expected.") from exc
    if not isinstance(body, dict):
        raise GraphHTTPError(400, "BadRequest", "Invalid request body.")
    backend(request).update_user(ref, body)
    return Response(status_code=204)


def revoke_sessions(ref: str, request: Request) -> Json:
    require_role(request, *REVOKE)
    backend(request).revoke_sessions(ref)
    return {"@odata.context": context_url(_tenant(request).graph_resource, "Edm.Boolean"), "value": True}


def users_delta(request: Request) -> Json:
    require_role(request, *READ_USERS)
    return _delta(request, "user")


# -- groups ------------------------------------------------------------------------------------


def list_groups(request: Request) -> Json:
    require_role(request, *READ_GROUPS)
    return _collection(request, backend(request).groups, "groups", GROUP_PROPERTIES - {"members"},
                       GROUP_FILTERABLE, GROUP_DEFAULT)


def count_groups(request: Request) -> Response:
    require_role(request, *READ_GROUPS)
    return _count(request, backend(request).groups(_filter(request, GROUP_FILTERABLE)))


def get_group(gid: str, request: Request) -> Json:
    require_role(request, *READ_GROUPS)
    select = select_of(request)
    check_select(select, GROUP_PROPERTIES - {"members"}, "group")
    ctx = context_url(_tenant(request).graph_resource, "groups/$entity")
    return {"@odata.context": ctx, **project(backend(request).group(gid), select, GROUP_DEFAULT)}


def _members(request: Request, gid: str, transitive: bool) -> list[Json]:
    require_role(request, *READ_GROUPS)
    return [member_json(kind, obj) for kind, obj in backend(request).members(gid, transitive=transitive)]


def list_members(gid: str, request: Request) -> Json:
    items = _members(request, gid, transitive=False)
    return page(request, items, context_url(_tenant(request).graph_resource, "directoryObjects"))


def list_transitive_members(gid: str, request: Request) -> Json:
    items = _members(request, gid, transitive=True)
    return page(request, items, context_url(_tenant(request).graph_resource, "directoryObjects"))


def count_members(gid: str, request: Request) -> Response:
    return _count(request, _members(request, gid, transitive=False))


def count_transitive_members(gid: str, request: Request) -> Response:
    return _count(request, _members(request, gid, transitive=True))


def groups_delta(request: Request) -> Json:
    require_role(request, *READ_GROUPS)
    return _delta(request, "group")


# -- delta -------------------------------------------------------------------------------------


def _gone() -> GraphHTTPError:
    return GraphHTTPError(410, "syncStateNotFound", "The sync state generation is not found. "
                          "Please perform a full synchronization.")


def _delta(request: Request, kind: str) -> Json:
    """One page of a users/groups delta round; the state (selection, window, offset) rides in
    opaque tokens, as Graph encodes the first request's options into its links."""
    t = _tenant(request)
    directory = backend(request)
    q = request.query_params
    entity_set = "users" if kind == "user" else "groups"
    if "$deltatoken" in q or "$skiptoken" in q:
        data = decode_token(q.get("$deltatoken") or q.get("$skiptoken") or "")
        if data is None or data.get("tn") != t.id or data.get("k") != kind or data.get("e") != directory.epoch:
            raise _gone()
        select, since = data.get("sel"), data.get("s")
        upto = data.get("u", directory.seq)
        offset = int(data.get("o", 0))
        size = int(data.get("ps", 0)) or page_size(request, DEFAULT_PAGE, MAX_PAGE)
    else:
        select = select_of(request)
        check_select(select, USER_PROPERTIES if kind == "user" else GROUP_PROPERTIES, kind)
        since, upto, offset, size = None, directory.seq, 0, page_size(request, DEFAULT_PAGE, MAX_PAGE)
    with_members = kind == "group" and select is not None and "members" in select
    entries = directory.delta(kind, since, upto, with_members=with_members)
    out: Json = {"@odata.context": _ctx(t, entity_set, select)}
    state = {"tn": t.id, "k": kind, "e": directory.epoch, "sel": select}
    end = offset + size
    link = str(request.base_url).rstrip("/") + request.url.path  # the form the client sent
    if end < len(entries):
        out["@odata.nextLink"] = f"{link}?$skiptoken=" + encode_token(
            {**state, "s": since, "u": upto, "o": end, "ps": size})
    else:
        out["@odata.deltaLink"] = f"{link}?$deltatoken=" + encode_token({**state, "s": upto})
    plain = [s for s in select if s != "members"] if select else None
    default = USER_DEFAULT if kind == "user" else GROUP_DEFAULT
    out["value"] = [_delta_item(directory, e, plain, default, with_members) for e in entries[offset:end]]
    return out


def _delta_item(directory: DirectoryBackend, e: DeltaEntry, select: list[str] | None,
                default: tuple[str, ...], with_members: bool) -> Json:
    if e.obj is None:
        return {"id": e.id, "@removed": {"reason": "changed"}}
    item = project(e.obj, select, default)
    item.setdefault("id", e.id)
    if with_members:
        members: list[Json] = [{"@odata.type": TYPES[directory.object_type(m) or "user"], "id": m}
                               for m in e.added]
        members += [{"@odata.type": TYPES["user"], "id": m, "@removed": {"reason": "deleted"}}
                    for m in e.removed]
        item["members@delta"] = members
    return item


# -- memberships and roles ---------------------------------------------------------------------


def _memberships(request: Request, ref: str, *, transitive: bool, cast: str | None) -> Json:
    require_role(request, *READ_USERS, *READ_GROUPS)
    directory = backend(request)
    held = directory.memberships(ref, transitive=transitive)
    kind = None if cast is None else CASTS.get(cast)
    if cast is not None and kind is None:
        raise GraphHTTPError(400, "BadRequest", f"Resource not found for the segment '{cast}'.")
    items: list[Json] = []
    if kind in (None, "group"):
        items += [_limited(g, GROUP_DEFAULT, TYPES["group"], _may(request, READ_GROUPS))
                  for g in directory.groups_by_id(held.groups)]
    if kind in (None, "role"):
        items += [_limited(r, ROLE_DEFAULT, TYPES["role"], _may(request, READ_ROLES))
                  for r in directory.roles(held.roles)]
    return page(request, items, context_url(_tenant(request).graph_resource, "directoryObjects"))


def _limited(obj: Json, default: tuple[str, ...], odata_type: str, full: bool) -> Json:
    """The object in full, or only its type and id when the token may not read it."""
    return project(obj, None, default, odata_type) if full else {"@odata.type": odata_type, "id": obj["id"]}


def member_of(ref: str, request: Request) -> Json:
    return _memberships(request, ref, transitive=False, cast=None)


def member_of_cast(ref: str, cast: str, request: Request) -> Json:
    return _memberships(request, ref, transitive=False, cast=cast)


def transitive_member_of(ref: str, request: Request) -> Json:
    return _memberships(request, ref, transitive=True, cast=None)


def transitive_member_of_cast(ref: str, cast: str, request: Request) -> Json:
    return _memberships(request, ref, transitive=True, cast=cast)


def directory_roles(request: Request) -> Json:
    require_role(request, *READ_ROLES)
    items = [project(role, None, ROLE_DEFAULT) for role in backend(request).roles()]
    return page(request, items, context_url(_tenant(request).graph_resource, "directoryRoles"))
