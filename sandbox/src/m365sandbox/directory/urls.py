"""The directory's URL table (under ``/v1.0``), in match order: fixed segments such as ``$count``
and the delta function come before the ``{id}`` they would otherwise be taken for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from m365sandbox.directory import responses as r
from m365sandbox.odata import DELTA_SEGMENTS

URLS: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/organization", r.organization),
    ("GET", "/subscribedSkus", r.subscribed_skus),
    ("GET", "/users", r.list_users),
    *(("GET", f"/users/{segment}", r.users_delta) for segment in DELTA_SEGMENTS),
    ("GET", "/users/$count", r.count_users),
    ("GET", "/users/{ref}", r.get_user),
    ("PATCH", "/users/{ref}", r.patch_user),
    ("POST", "/users/{ref}/revokeSignInSessions", r.revoke_sessions),
    ("GET", "/users/{ref}/memberOf", r.member_of),
    ("GET", "/users/{ref}/memberOf/{cast}", r.member_of_cast),
    ("GET", "/users/{ref}/transitiveMemberOf", r.transitive_member_of),
    ("GET", "/users/{ref}/transitiveMemberOf/{cast}", r.transitive_member_of_cast),
    ("GET", "/groups", r.list_groups),
    *(("GET", f"/groups/{segment}", r.groups_delta) for segment in DELTA_SEGMENTS),
    ("GET", "/groups/$count", r.count_groups),
    ("GET", "/groups/{gid}", r.get_group),
    ("GET", "/groups/{gid}/members", r.list_members),
    ("GET", "/groups/{gid}/members/$count", r.count_members),
    ("GET", "/groups/{gid}/transitiveMembers", r.list_transitive_members),
    ("GET", "/groups/{gid}/transitiveMembers/$count", r.count_transitive_members),
    ("GET", "/directoryRoles", r.directory_roles),
]
"""(method, path, handler)."""


def build_directory_router() -> APIRouter:
    router = APIRouter()
    for method, path, handler in URLS:
        router.add_api_route(path, handler, methods=[method])
    return router
