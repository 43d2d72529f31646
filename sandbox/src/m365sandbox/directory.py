"""Graph v1.0 directory subset: organization, subscribedSkus, users, groups, members, delta.

Route handlers only parse the query, call :class:`~m365sandbox.state.TenantState` and
serialise with Graph's envelopes (``@odata.context`` on the tenant's Graph host,
``@odata.nextLink``/``@odata.deltaLink`` absolute on the sandbox's own host).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from m365sandbox.context import GraphHTTPError, require_role
from m365sandbox.core import Sandbox
from m365sandbox.odata import (
    DELTA_SEGMENTS,
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
from m365sandbox.state import PasswordChange, TenantState, hash_password, iso_now

Json = dict[str, Any]

USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
USER_PROPERTIES = frozenset({
    *USER_DEFAULT, "accountEnabled", "assignedLicenses", "assignedPlans", "city", "companyName",
    "country", "createdDateTime", "creationType", "department", "employeeId", "externalUserState",
    "identities", "lastPasswordChangeDateTime", "mailNickname", "onPremisesImmutableId",
    "onPremisesSyncEnabled", "otherMails", "passwordPolicies", "proxyAddresses",
    "signInSessionsValidFromDateTime", "usageLocation", "userType", "deletedDateTime",
    "showInAddressList", "onPremisesDomainName", "onPremisesSamAccountName"})
GROUP_DEFAULT = (
    "id", "deletedDateTime", "classification", "createdDateTime", "description",
    "displayName", "expirationDateTime", "groupTypes", "isAssignableToRole", "mail", "mailEnabled",
    "mailNickname", "membershipRule", "membershipRuleProcessingState", "onPremisesDomainName",
    "onPremisesLastSyncDateTime", "onPremisesNetBiosName", "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "preferredDataLocation",
    "preferredLanguage", "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions",
    "resourceProvisioningOptions", "securityEnabled", "securityIdentifier", "theme", "visibility",
    "onPremisesProvisioningErrors", "serviceProvisioningErrors")
GROUP_PROPERTIES = frozenset({*GROUP_DEFAULT, "members"})
USER_FILTERABLE = {"accountEnabled", "userType", "mail", "userPrincipalName", "displayName", "id",
                   "givenName", "surname", "proxyAddresses", "mailNickname", "department", "jobTitle"}
GROUP_FILTERABLE = {"displayName", "mail", "mailEnabled", "securityEnabled", "groupTypes", "id",
                    "mailNickname", "proxyAddresses"}
READ_USERS = ("User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All", "Directory.Read.All",
              "Directory.ReadWrite.All")
WRITE_USERS = ("User.ReadWrite.All", "Directory.ReadWrite.All")
REVOKE = ("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
READ_GROUPS = ("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
               "Directory.ReadWrite.All")
READ_ORG = ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
            "Directory.ReadWrite.All")
READ_SKUS = ("Organization.Read.All", "Directory.Read.All", "LicenseAssignment.Read.All")
TYPES = {"user": "#microsoft.graph.user", "group": "#microsoft.graph.group"}


def _tenant(request: Request) -> TenantState:
    return request.state.tenant


def _not_found(ref: str) -> GraphHTTPError:
    return GraphHTTPError(404, "Request_ResourceNotFound", f"Resource '{ref}' does not exist or one of "
                          "its queried reference-property objects are not present.")


def _user(t: TenantState, ref: str) -> Json:
    with t.lock:
        user = t.users.get(ref)
        if user is None:
            low = ref.lower()
            user = next((u for u in t.users.values()
                         if str(u.get("userPrincipalName", "")).lower() == low), None)
    if user is None:
        raise _not_found(ref)
    return user


def _group(t: TenantState, ref: str) -> Json:
    group = t.groups.get(ref)
    if group is None:
        raise _not_found(ref)
    return group


def _ctx(t: TenantState, entity_set: str, select: list[str] | None) -> str:
    return context_url(t.graph_resource, f"{entity_set}({','.join(select)})" if select else entity_set)


def _page(request: Request, items: list[Json], entity_ctx: str, default_top: int, maximum: int,
          extra: Json | None = None, shape: Callable[[Json], Json] | None = None) -> Json:
    """One page of ``items`` (filtered; ``shape`` projects the page only), with a nextLink."""
    top = page_size(request, default_top, maximum)
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


def _eventual(request: Request) -> bool:
    """Whether the request asks for an advanced query (``ConsistencyLevel: eventual``)."""
    return request.headers.get("consistencylevel", "").lower() == "eventual"


def _count_check(request: Request) -> bool:
    """``$count=true`` on a list: counted in an advanced query, silently ignored otherwise (Graph)."""
    return request.query_params.get("$count", "").lower() == "true" and _eventual(request)


def _count_segment(request: Request, objects: list[Json] | dict[str, Json], filterable: Any) -> Response:
    """``/$count``: the number as text, only in an advanced query (else Graph's 400)."""
    if not _eventual(request):
        raise GraphHTTPError(400, "Request_BadRequest", "$count is not currently supported.")
    flt = request.query_params.get("$filter")
    pred = parse_filter(flt, filterable) if flt else None
    rows = objects.values() if isinstance(objects, dict) else objects
    return PlainTextResponse(str(sum(1 for o in rows if pred is None or pred(o))))


def _list(request: Request, t: TenantState, objects: dict[str, Json], entity_set: str,
          properties: Any, filterable: Any, default: Any) -> Json:
    """A directory collection: ``$select``, ``$filter``, ``$count`` and paging, as Graph serves them."""
    select = select_of(request)
    check_select(select, properties, entity_set.rstrip("s"))
    count = _count_check(request)
    flt = request.query_params.get("$filter")
    pred = parse_filter(flt, filterable) if flt else None
    with t.lock:
        rows = [o for o in objects.values() if pred is None or pred(o)]
        extra = {"@odata.count": len(rows)} if count else None
        return _page(request, rows, _ctx(t, entity_set, select), 100, 999, extra,
                     lambda o: project(o, select, default))


def member_json(t: TenantState, oid: str) -> Json:
    """A directory object as a members/transitiveMembers item (typed, default properties)."""
    if oid in t.users:
        return project(t.users[oid], None, USER_DEFAULT, TYPES["user"])
    return project(t.groups[oid], None, GROUP_DEFAULT, TYPES["group"])


def build_directory_router(sb: Sandbox) -> APIRouter:
    r = APIRouter()

    @r.get("/organization")
    def organization(request: Request) -> Json:
        require_role(request, *READ_ORG)
        t = _tenant(request)
        return {"@odata.context": context_url(t.graph_resource, "organization"), "value": [t.organization]}

    @r.get("/subscribedSkus")
    def subscribed_skus(request: Request) -> Json:
        require_role(request, *READ_SKUS)
        t = _tenant(request)
        with t.lock:
            return {"@odata.context": context_url(t.graph_resource, "subscribedSkus"), "value": list(t.skus)}

    @r.get("/users")
    def users(request: Request) -> Json:
        require_role(request, *READ_USERS)
        t = _tenant(request)
        return _list(request, t, t.users, "users", USER_PROPERTIES, USER_FILTERABLE, USER_DEFAULT)

    def users_delta(request: Request) -> Json:
        require_role(request, *READ_USERS)
        return _delta(request, "user")

    for segment in DELTA_SEGMENTS:
        r.add_api_route(f"/users/{segment}", users_delta, methods=["GET"])

    @r.get("/users/$count")
    def users_count(request: Request) -> Response:
        require_role(request, *READ_USERS)
        t = _tenant(request)
        with t.lock:
            return _count_segment(request, t.users, USER_FILTERABLE)

    @r.get("/users/{ref}")
    def user(ref: str, request: Request) -> Json:
        require_role(request, *READ_USERS)
        t = _tenant(request)
        select = select_of(request)
        check_select(select, USER_PROPERTIES, "user")
        ctx = context_url(t.graph_resource,
                          f"users({','.join(select)})/$entity" if select else "users/$entity")
        return {"@odata.context": ctx, **project(_user(t, ref), select, USER_DEFAULT)}

    @r.patch("/users/{ref}")
    async def patch_user(ref: str, request: Request) -> Response:
        require_role(request, *WRITE_USERS)
        t = _tenant(request)
        try:
            body = await request.json()
        except ValueError as exc:
            raise GraphHTTPError(400, "BadRequest", "Empty Payload. JSON content expected.") from exc
        if not isinstance(body, dict):
            raise GraphHTTPError(400, "BadRequest", "Invalid request body.")
        user = _user(t, ref)
        patch: Json = {}
        for key, value in body.items():
            if key == "passwordProfile":
                continue
            if key not in USER_PROPERTIES or key in ("id", "lastPasswordChangeDateTime"):
                raise GraphHTTPError(400, "Request_BadRequest", f"Property '{key}' is read-only or does "
                                     "not exist on type 'microsoft.graph.user'.")
            patch[key] = value
        profile = body.get("passwordProfile")
        with t.lock:
            if profile is not None:
                pw = profile.get("password") if isinstance(profile, dict) else None
                if not isinstance(pw, str) or not strong_password(pw):
                    raise GraphHTTPError(400, "Request_BadRequest", "The specified password does not "
                                         "comply with password complexity requirements. Please provide a "
                                         "different password.")
                now = sb.clock()
                t.password_changes.append(PasswordChange(
                    user["id"], now, hash_password(pw), bool(profile.get("forceChangePasswordNextSignIn"))))
                patch["lastPasswordChangeDateTime"] = iso_now(now)
            if patch:
                t.update_user(user["id"], patch)
        return Response(status_code=204)

    @r.post("/users/{ref}/revokeSignInSessions")
    def revoke_sessions(ref: str, request: Request) -> Json:
        require_role(request, *REVOKE)
        t = _tenant(request)
        user = _user(t, ref)
        t.update_user(user["id"], {"signInSessionsValidFromDateTime": iso_now(sb.clock())})
        return {"@odata.context": context_url(t.graph_resource, "Edm.Boolean"), "value": True}

    @r.get("/groups")
    def groups(request: Request) -> Json:
        require_role(request, *READ_GROUPS)
        t = _tenant(request)
        return _list(request, t, t.groups, "groups", GROUP_PROPERTIES - {"members"}, GROUP_FILTERABLE,
                     GROUP_DEFAULT)

    def groups_delta(request: Request) -> Json:
        require_role(request, *READ_GROUPS)
        return _delta(request, "group")

    for segment in DELTA_SEGMENTS:
        r.add_api_route(f"/groups/{segment}", groups_delta, methods=["GET"])

    @r.get("/groups/$count")
    def groups_count(request: Request) -> Response:
        require_role(request, *READ_GROUPS)
        t = _tenant(request)
        with t.lock:
            return _count_segment(request, t.groups, GROUP_FILTERABLE)

    @r.get("/groups/{gid}")
    def group(gid: str, request: Request) -> Json:
        require_role(request, *READ_GROUPS)
        t = _tenant(request)
        select = select_of(request)
        check_select(select, GROUP_PROPERTIES - {"members"}, "group")
        ctx = context_url(t.graph_resource, "groups/$entity")
        return {"@odata.context": ctx, **project(_group(t, gid), select, GROUP_DEFAULT)}

    @r.get("/groups/{gid}/members")
    def members(gid: str, request: Request) -> Json:
        require_role(request, *READ_GROUPS)
        t = _tenant(request)
        with t.lock:
            _group(t, gid)
            items = [member_json(t, m) for m in t.members.get(gid, []) if t.object_type(m)]
        return _page(request, items, context_url(t.graph_resource, "directoryObjects"), 100, 999)

    @r.get("/groups/{gid}/members/$count")
    def members_count(gid: str, request: Request) -> Response:
        require_role(request, *READ_GROUPS)
        t = _tenant(request)
        with t.lock:
            _group(t, gid)
            items = [member_json(t, m) for m in t.members.get(gid, []) if t.object_type(m)]
        return _count_segment(request, items, set())

    @r.get("/groups/{gid}/transitiveMembers/$count")
    def transitive_count(gid: str, request: Request) -> Response:
        require_role(request, *READ_GROUPS)
        t = _tenant(request)
        with t.lock:
            _group(t, gid)
            items = [member_json(t, m) for m in t.transitive_members(gid) if t.object_type(m)]
        return _count_segment(request, items, set())

    @r.get("/groups/{gid}/transitiveMembers")
    def transitive(gid: str, request: Request) -> Json:
        require_role(request, *READ_GROUPS)
        t = _tenant(request)
        with t.lock:
            _group(t, gid)
            items = [member_json(t, m) for m in t.transitive_members(gid) if t.object_type(m)]
        return _page(request, items, context_url(t.graph_resource, "directoryObjects"), 100, 999)

    def _delta(request: Request, kind: str) -> Json:
        t = _tenant(request)
        q = request.query_params
        entity_set = "users" if kind == "user" else "groups"
        if "$deltatoken" in q or "$skiptoken" in q:
            data = decode_token(q.get("$deltatoken") or q.get("$skiptoken") or "")
            if (data is None or data.get("tn") != t.id or data.get("k") != kind
                    or data.get("e") != t.delta_epoch):
                raise GraphHTTPError(410, "syncStateNotFound", "The sync state generation is not found. "
                                     "Please perform a full synchronization.")
            select, since = data.get("sel"), data.get("s")
            upto = data.get("u", t.seq)
            offset = int(data.get("o", 0))
            size = int(data.get("ps", 0)) or page_size(request, 100, 999)
        else:
            select = select_of(request)
            check_select(select, USER_PROPERTIES if kind == "user" else GROUP_PROPERTIES, kind)
            since, upto, offset, size = None, t.seq, 0, page_size(request, 100, 999)
        with t.lock:
            items = _delta_items(t, kind, select, since, upto)
        out: Json = {"@odata.context": _ctx(t, entity_set, select)}
        base = {"tn": t.id, "k": kind, "e": t.delta_epoch, "sel": select}
        end = offset + size
        link = str(request.base_url).rstrip("/") + request.url.path  # the form the client sent
        if end < len(items):
            out["@odata.nextLink"] = f"{link}?$skiptoken=" + encode_token(
                {**base, "s": since, "u": upto, "o": end, "ps": size})
        else:
            out["@odata.deltaLink"] = f"{link}?$deltatoken=" + encode_token({**base, "s": upto})
        out["value"] = items[offset:end]
        return out

    return r


def _delta_items(t: TenantState, kind: str, select: list[str] | None, since: int | None,
                 upto: int) -> list[Json]:
    store = t.users if kind == "user" else t.groups
    default = USER_DEFAULT if kind == "user" else GROUP_DEFAULT
    plain = [s for s in select or [] if s != "members"] if select else None
    with_members = kind == "group" and select is not None and "members" in select
    if since is None:
        ids = list(store)
        added: dict[str, list[str]] = ({gid: list(t.members.get(gid, [])) for gid in ids}
                                       if with_members else {})
        removed: dict[str, list[str]] = {}
    else:
        ids, added, removed = [], {}, {}
        seen: set[str] = set()
        # the log is in seq order: start at the first change after ``since``, stop after ``upto``
        for seq, k, oid, mdelta in t.changes[bisect.bisect_right(t.changes, (since, "\uffff")):]:
            if seq > upto:
                break
            if k != kind:
                continue
            if oid not in seen:
                seen.add(oid)
                ids.append(oid)
            for m in (mdelta or {}).get("added", []):
                added.setdefault(oid, []).append(m)
            for m in (mdelta or {}).get("removed", []):
                removed.setdefault(oid, []).append(m)
    out: list[Json] = []
    for oid in ids:
        obj = store.get(oid)
        if obj is None:
            out.append({"id": oid, "@removed": {"reason": "changed"}})
            continue
        item = project(obj, plain, default)
        item.setdefault("id", oid)
        if with_members:
            md: list[Json] = [{"@odata.type": TYPES.get(t.object_type(m) or "user", TYPES["user"]), "id": m}
                              for m in added.get(oid, [])]
            md += [{"@odata.type": TYPES["user"], "id": m, "@removed": {"reason": "deleted"}}
                   for m in removed.get(oid, [])]
            item["members@delta"] = md
        out.append(item)
    return out


def strong_password(pw: str) -> bool:
    """Azure AD complexity: 8-256 characters and three of lower, upper, digit, symbol."""
    if not 8 <= len(pw) <= 256:
        return False
    classes = [re.search(r"[a-z]", pw), re.search(r"[A-Z]", pw), re.search(r"\d", pw),
               re.search(r"[^A-Za-z0-9]", pw)]
    return sum(1 for c in classes if c) >= 3

