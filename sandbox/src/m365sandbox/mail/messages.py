"""Routes over messages: list (mailbox-wide and per folder), get, PATCH, DELETE, move, copy,
permanentDelete, attachments. Handlers parse, call :class:`MailboxState`, serialise."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from m365sandbox.context import GraphHTTPError, require_role
from m365sandbox.mail.common import (
    READ_MAIL,
    TEXT_BODY,
    WRITE_MAIL,
    context,
    json_body,
    link,
    mailbox_of,
    no_content,
    now_of,
    reply,
    select_suffix,
    text_body_preferred,
    user_segment,
)
from m365sandbox.mail.query import (
    Predicate,
    check_orderby_with_filter,
    parse_filter,
    parse_orderby,
    parse_select,
    parse_skip,
    parse_top,
    search_predicate,
)
from m365sandbox.mail.render import render_attachments, render_message

Json = dict[str, Any]


def _expand(request: Request) -> bool:
    raw = request.query_params.get("$expand")
    if raw is None:
        return False
    if raw.strip() != "attachments":
        raise GraphHTTPError(400, "ErrorInvalidUrlQuery", f"The $expand expression '{raw}' is not supported.")
    return True


def _headers(request: Request) -> dict[str, str] | None:
    return {"Preference-Applied": TEXT_BODY} if text_body_preferred(request) else None


def list_messages(request: Request) -> JSONResponse:
    """``GET /users/{u}/messages`` and ``/users/{u}/mailFolders/{f}/messages``."""
    require_role(request, *READ_MAIL)
    p, q = request.path_params, request.query_params
    tenant, _, mb = mailbox_of(request, p["user"])
    select = parse_select(q.get("$select"))
    top, skip = parse_top(q.get("$top")), parse_skip(q.get("$skip"))
    order = parse_orderby(q.get("$orderby"))
    filt, search = q.get("$filter"), q.get("$search")
    expand = _expand(request)
    if search is not None and (filt or order):
        raise GraphHTTPError(400, "ErrorInvalidUrlQuery",
                             "The query parameter '$search' can't be combined with '$filter' or '$orderby'.")
    keep: Predicate | None = None
    key: tuple[str, ...] = ()
    if filt:
        keep, props = parse_filter(filt)
        if order:
            check_orderby_with_filter(order[0], props)
        key = ("filter", filt)
    elif search is not None:
        keep, key = search_predicate(search), ("search", search)
    desc = order[1] if order else True
    text = text_body_preferred(request)
    with mb.lock:
        folder = mb.folder(p["folder"]) if "folder" in p else None
        ids = mb.listing(folder, desc, key, keep)
        values = [render_message(mb.items[i], select, text_body=text, expand_attachments=expand)
                  for i in ids[skip:skip + top]]
    where = f"mailFolders('{p['folder']}')/messages" if "folder" in p else "messages"
    fragment = f"{user_segment(p['user'])}/{where}{select_suffix(select)}"
    body: Json = {"@odata.context": context(tenant, fragment), "value": values}
    if skip + top < len(ids):
        params = dict(q)
        params["$skip"] = str(skip + top)
        body["@odata.nextLink"] = link(request, params)
    return reply(body, headers=_headers(request))


def _entity(tenant: Any, user: str, select: list[str] | None = None) -> str:
    return context(tenant, f"{user_segment(user)}/messages{select_suffix(select)}/$entity")


def get_message(request: Request) -> JSONResponse:
    require_role(request, *READ_MAIL)
    p = request.path_params
    tenant, _, mb = mailbox_of(request, p["user"])
    select = parse_select(request.query_params.get("$select"))
    expand = _expand(request)
    with mb.lock:
        if "folder" in p:
            mb.folder(p["folder"])
        out = render_message(mb.item(p["mid"]), select, text_body=text_body_preferred(request),
                             expand_attachments=expand)
    return reply({"@odata.context": _entity(tenant, p["user"], select), **out}, headers=_headers(request))


async def patch_message(request: Request) -> JSONResponse:
    require_role(request, *WRITE_MAIL)
    p = request.path_params
    tenant, _, mb = mailbox_of(request, p["user"])
    patch = await json_body(request)
    with mb.lock:
        item = mb.update(p["mid"], patch, now_of(request))
        out = render_message(item)
    return reply({"@odata.context": _entity(tenant, p["user"]), **out})


def delete_message(request: Request) -> Response:
    """DELETE: soft delete (Recoverable Items\\Deletions); the id stops resolving."""
    require_role(request, *WRITE_MAIL)
    p = request.path_params
    _, _, mb = mailbox_of(request, p["user"])
    mb.delete(p["mid"], now_of(request))
    return no_content()


def permanent_delete(request: Request) -> Response:
    require_role(request, *WRITE_MAIL)
    p = request.path_params
    _, _, mb = mailbox_of(request, p["user"])
    mb.permanent_delete(p["mid"], now_of(request))
    return no_content()


async def _relocate(request: Request, keep: bool) -> JSONResponse:
    require_role(request, *WRITE_MAIL)
    p = request.path_params
    tenant, _, mb = mailbox_of(request, p["user"])
    body = await json_body(request)
    dest = body.get("destinationId")
    if not isinstance(dest, str) or not dest:
        raise GraphHTTPError(400, "ErrorInvalidRequest", "The destinationId parameter is missing or invalid.")
    with mb.lock:
        item = mb.move(p["mid"], dest, now_of(request), keep=keep)
        out = render_message(item)
    return reply({"@odata.context": _entity(tenant, p["user"]), **out}, status=201)


async def move_message(request: Request) -> JSONResponse:
    """``move``: 201 with the message under its new id."""
    return await _relocate(request, keep=False)


async def copy_message(request: Request) -> JSONResponse:
    return await _relocate(request, keep=True)


def list_attachments(request: Request) -> JSONResponse:
    require_role(request, *READ_MAIL)
    p = request.path_params
    tenant, _, mb = mailbox_of(request, p["user"])
    select = request.query_params.get("$select")
    names = [s.strip() for s in select.split(",")] if select else None
    with mb.lock:
        values = render_attachments(mb.item(p["mid"]), names)
    ctx = context(tenant, f"{user_segment(p['user'])}/messages('{p['mid']}')/attachments")
    return reply({"@odata.context": ctx, "value": values})


def get_attachment(request: Request) -> JSONResponse:
    require_role(request, *READ_MAIL)
    p = request.path_params
    tenant, _, mb = mailbox_of(request, p["user"])
    with mb.lock:
        found = [a for a in render_attachments(mb.item(p["mid"])) if a["id"] == p["aid"]]
    if not found:
        raise GraphHTTPError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    ctx = context(tenant, f"{user_segment(p['user'])}/messages('{p['mid']}')/attachments/$entity")
    return reply({"@odata.context": ctx, **found[0]})


def add_message_routes(r: APIRouter) -> None:
    """Register the message routes, mailbox-wide and under a folder."""
    for prefix in ("/users/{user}", "/users/{user}/mailFolders/{folder}"):
        m = f"{prefix}/messages"
        r.add_api_route(m, list_messages, methods=["GET"])
        r.add_api_route(m + "/{mid}", get_message, methods=["GET"])
        r.add_api_route(m + "/{mid}", patch_message, methods=["PATCH"])
        r.add_api_route(m + "/{mid}", delete_message, methods=["DELETE"], status_code=204)
        r.add_api_route(m + "/{mid}/move", move_message, methods=["POST"])
        r.add_api_route(m + "/{mid}/copy", copy_message, methods=["POST"])
        r.add_api_route(m + "/{mid}/permanentDelete", permanent_delete, methods=["POST"], status_code=204)
        r.add_api_route(m + "/{mid}/attachments", list_attachments, methods=["GET"])
        r.add_api_route(m + "/{mid}/attachments/{aid}", get_attachment, methods=["GET"])
