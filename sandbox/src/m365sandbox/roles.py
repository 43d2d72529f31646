"""Graph v1.0 directory roles: a user's ``memberOf`` / ``transitiveMemberOf`` and ``directoryRoles``.

Route handlers parse, call :class:`~m365sandbox.state.TenantState` (``groups_of``,
``roles_of``) and serialise. As Graph does, an object the token may not read in full comes back
with ``@odata.type`` and ``id`` only ("limited information returned for inaccessible member
objects"); the OData casts ``/microsoft.graph.directoryRole`` and ``/microsoft.graph.group``
narrow the collection to one type.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from m365sandbox.context import GraphHTTPError, require_role
from m365sandbox.directory import GROUP_DEFAULT, READ_GROUPS, READ_USERS, _page, _tenant, _user
from m365sandbox.odata import context_url, project
from m365sandbox.state import TenantState

Json = dict[str, Any]

READ_ROLES = ("RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory",
              "Directory.Read.All", "Directory.ReadWrite.All")
ROLE_DEFAULT = ("id", "deletedDateTime", "description", "displayName", "roleTemplateId")
CASTS = {"microsoft.graph.directoryRole": "role", "microsoft.graph.group": "group"}
ROLE_TYPE = "#microsoft.graph.directoryRole"
GROUP_TYPE = "#microsoft.graph.group"


def _may(request: Request, any_of: tuple[str, ...]) -> bool:
    return bool(request.state.roles.intersection(any_of))


def _memberships(request: Request, t: TenantState, user_id: str, *, transitive: bool) -> list[Json]:
    full_groups, full_roles = _may(request, READ_GROUPS), _may(request, READ_ROLES)
    with t.lock:
        out = [project(t.groups[g], None, GROUP_DEFAULT, GROUP_TYPE) if full_groups
               else {"@odata.type": GROUP_TYPE, "id": g}
               for g in t.groups_of(user_id, transitive=transitive) if g in t.groups]
        out += [project(t.roles[r], None, ROLE_DEFAULT, ROLE_TYPE) if full_roles
                else {"@odata.type": ROLE_TYPE, "id": r}
                for r in t.roles_of(user_id, transitive=transitive)]
    return out


def _cast(items: list[Json], cast: str | None) -> list[Json]:
    if cast is None:
        return items
    kind = CASTS.get(cast)
    if kind is None:
        raise GraphHTTPError(400, "BadRequest", f"Resource not found for the segment '{cast}'.")
    wanted = ROLE_TYPE if kind == "role" else GROUP_TYPE
    return [i for i in items if i.get("@odata.type") == wanted]


def build_roles_router() -> APIRouter:
    r = APIRouter()

    def memberships(ref: str, request: Request, *, transitive: bool, cast: str | None) -> Json:
        require_role(request, *READ_USERS, *READ_GROUPS)
        t = _tenant(request)
        user = _user(t, ref)
        items = _cast(_memberships(request, t, str(user["id"]), transitive=transitive), cast)
        return _page(request, items, context_url(t.graph_resource, "directoryObjects"), 100, 999)

    @r.get("/users/{ref}/memberOf")
    def member_of(ref: str, request: Request) -> Json:
        return memberships(ref, request, transitive=False, cast=None)

    @r.get("/users/{ref}/memberOf/{cast}")
    def member_of_cast(ref: str, cast: str, request: Request) -> Json:
        return memberships(ref, request, transitive=False, cast=cast)

    @r.get("/users/{ref}/transitiveMemberOf")
    def transitive_member_of(ref: str, request: Request) -> Json:
        return memberships(ref, request, transitive=True, cast=None)

    @r.get("/users/{ref}/transitiveMemberOf/{cast}")
    def transitive_member_of_cast(ref: str, cast: str, request: Request) -> Json:
        return memberships(ref, request, transitive=True, cast=cast)

    @r.get("/directoryRoles")
    def directory_roles(request: Request) -> Json:
        require_role(request, *READ_ROLES)
        t = _tenant(request)
        with t.lock:
            items = [project(role, None, ROLE_DEFAULT) for role in t.roles.values()]
        return _page(request, items, context_url(t.graph_resource, "directoryRoles"), 100, 999)

    return r
