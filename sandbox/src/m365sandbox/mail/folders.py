"""Routes over mail folders: list, get (id or well-known name), childFolders, create."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from m365sandbox.context import GraphHTTPError, require_role
from m365sandbox.mail.common import (
    READ_MAIL,
    WRITE_MAIL,
    context,
    json_body,
    link,
    mailbox_of,
    reply,
    select_suffix,
    user_segment,
)
from m365sandbox.mail.model import NOT_FOUND
from m365sandbox.mail.query import parse_skip, parse_top
from m365sandbox.mail.schema import FOLDER_PROPERTIES

Json = dict[str, Any]


def _select(request: Request) -> list[str] | None:
    raw = request.query_params.get("$select")
    if not raw:
        return None
    names = [s.strip() for s in raw.split(",") if s.strip()]
    for n in names:
        if n not in FOLDER_PROPERTIES:
            raise GraphHTTPError(400, "RequestBroker--ParseUri", f"Could not find a property named "
                                 f"'{n}' on type 'microsoft.graph.mailFolder'.")
    return names


def _project(folder: Json, select: list[str] | None) -> Json:
    if select is None:
        return folder
    return {"id": folder["id"], **{n: folder[n] for n in select if n != "id"}}


def _list(request: Request, parent_ref: str | None) -> JSONResponse:
    require_role(request, *READ_MAIL)
    p, q = request.path_params, request.query_params
    tenant, _, mb = mailbox_of(request, p["user"])
    select = _select(request)
    top, skip = parse_top(q.get("$top")), parse_skip(q.get("$skip"))
    hidden = q.get("includeHiddenFolders", "").lower() == "true"
    with mb.lock:
        parent = mb.folder(parent_ref) if parent_ref else mb.well_known["msgfolderroot"]
        ids = mb.child_folders(parent, hidden)
        values = [_project(mb.folder_json(f), select) for f in ids[skip:skip + top]]
    where = f"mailFolders('{parent_ref}')/childFolders" if parent_ref else "mailFolders"
    fragment = f"{user_segment(p['user'])}/{where}{select_suffix(select)}"
    body: Json = {"@odata.context": context(tenant, fragment), "value": values}
    if skip + top < len(ids):
        params = dict(q)
        params["$skip"] = str(skip + top)
        body["@odata.nextLink"] = link(request, params)
    return reply(body)


def list_folders(request: Request) -> JSONResponse:
    """``GET /users/{u}/mailFolders``: the top-level folders (hidden ones on request)."""
    return _list(request, None)


def list_children(request: Request) -> JSONResponse:
    return _list(request, request.path_params["folder"])


def get_folder(request: Request) -> JSONResponse:
    require_role(request, *READ_MAIL)
    p = request.path_params
    tenant, _, mb = mailbox_of(request, p["user"])
    select = _select(request)
    with mb.lock:
        fid = mb.folder(p["folder"])
        if "child" in p:
            fid = mb.folder(p["child"])
            if mb.folders[fid]["parentFolderId"] != mb.folder(p["folder"]):
                raise GraphHTTPError(404, "ErrorItemNotFound", NOT_FOUND)
        out = _project(mb.folder_json(fid), select)
    ctx = context(tenant, f"{user_segment(p['user'])}/mailFolders{select_suffix(select)}/$entity")
    return reply({"@odata.context": ctx, **out})


async def _create(request: Request, parent_ref: str | None) -> JSONResponse:
    require_role(request, *WRITE_MAIL)
    p = request.path_params
    tenant, _, mb = mailbox_of(request, p["user"])
    body = await json_body(request)
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise GraphHTTPError(400, "ErrorInvalidRequest", "The folder display name is missing or empty.")
    unknown = set(body) - {"displayName", "isHidden"}
    if unknown:
        raise GraphHTTPError(400, "RequestBroker--ParseUri", f"Could not find a property named "
                             f"'{sorted(unknown)[0]}' on type 'microsoft.graph.mailFolder'.")
    with mb.lock:
        parent = mb.folder(parent_ref) if parent_ref else mb.well_known["msgfolderroot"]
        fid = mb.create_folder(parent, name, bool(body.get("isHidden", False)))
        out = mb.folder_json(fid)
    where = f"mailFolders('{parent_ref}')/childFolders" if parent_ref else "mailFolders"
    return reply({"@odata.context": context(tenant, f"{user_segment(p['user'])}/{where}/$entity"), **out},
                 status=201)


async def create_folder(request: Request) -> JSONResponse:
    return await _create(request, None)


async def create_child(request: Request) -> JSONResponse:
    return await _create(request, request.path_params["folder"])


def add_folder_routes(r: APIRouter) -> None:
    r.add_api_route("/users/{user}/mailFolders", list_folders, methods=["GET"])
    r.add_api_route("/users/{user}/mailFolders", create_folder, methods=["POST"])
    r.add_api_route("/users/{user}/mailFolders/{folder}", get_folder, methods=["GET"])
    r.add_api_route("/users/{user}/mailFolders/{folder}/childFolders", list_children, methods=["GET"])
    r.add_api_route("/users/{user}/mailFolders/{folder}/childFolders", create_child, methods=["POST"])
    r.add_api_route("/users/{user}/mailFolders/{folder}/childFolders/{child}", get_folder, methods=["GET"])
