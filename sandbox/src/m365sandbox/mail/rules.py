"""Routes over inbox rules: ``/users/{u}/mailFolders/inbox/messageRules[/{id}]``.

Reading needs ``MailboxSettings.Read`` (or ReadWrite), changing needs ``MailboxSettings.ReadWrite``.
The China cloud's schema has no ``messageRules``: the segment is refused as Graph refuses unknown
segments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from m365sandbox.context import GraphHTTPError, require_role, tenant_of
from m365sandbox.mail.common import context, json_body, mailbox_of, no_content, reply, user_segment
from m365sandbox.mail.model import MailboxState

Json = dict[str, Any]
READ = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
WRITE = ("MailboxSettings.ReadWrite",)


def _rules_mailbox(request: Request, roles: tuple[str, ...]) -> tuple[Any, MailboxState]:
    if getattr(tenant_of(request), "cloud", "global") == "china":
        raise GraphHTTPError(400, "BadRequest", "Resource not found for the segment 'messageRules'.")
    require_role(request, *roles)
    p = request.path_params
    tenant, _, mb = mailbox_of(request, p["user"])
    with mb.lock:
        if mb.folder(p["folder"]) != mb.well_known["inbox"]:
            raise GraphHTTPError(400, "ErrorInvalidRequest", "Message rules are only supported on the Inbox.")
    return tenant, mb


def _ctx(tenant: Any, request: Request, entity: bool = False) -> str:
    p = request.path_params
    frag = f"{user_segment(p['user'])}/mailFolders('{p['folder']}')/messageRules"
    return context(tenant, frag + ("/$entity" if entity else ""))


def _rule_id(request: Request) -> str:
    """The rule id as the client escaped it: a literal "/" inside it is a further segment to Graph."""
    raw = bytes(request.scope.get("raw_path") or b"").decode("latin-1").split("?", 1)[0]
    tail = raw.rsplit("/messageRules/", 1)[-1]
    if "/" in tail:
        raise GraphHTTPError(400, "BadRequest", f"Resource not found for the segment '{tail.split('/', 1)[1]}'.")
    return str(request.path_params["rid"])


def list_rules(request: Request) -> JSONResponse:
    tenant, mb = _rules_mailbox(request, READ)
    with mb.lock:
        values = sorted((dict(r) for r in mb.rules.values()), key=lambda r: r.get("sequence") or 0)
    return reply({"@odata.context": _ctx(tenant, request), "value": values})


def get_rule(request: Request) -> JSONResponse:
    tenant, mb = _rules_mailbox(request, READ)
    with mb.lock:
        rule = dict(mb.rule(_rule_id(request)))
    return reply({"@odata.context": _ctx(tenant, request, True), **rule})


async def create_rule(request: Request) -> JSONResponse:
    tenant, mb = _rules_mailbox(request, WRITE)
    body = await json_body(request)
    body.pop("id", None)
    body.pop("isReadOnly", None)
    body.pop("hasError", None)
    rule = dict(mb.add_rule(body))
    return reply({"@odata.context": _ctx(tenant, request, True), **rule}, status=201)


async def patch_rule(request: Request) -> JSONResponse:
    tenant, mb = _rules_mailbox(request, WRITE)
    body = await json_body(request)
    rule = dict(mb.update_rule(_rule_id(request), body))
    return reply({"@odata.context": _ctx(tenant, request, True), **rule})


def delete_rule(request: Request) -> Response:
    _, mb = _rules_mailbox(request, WRITE)
    mb.delete_rule(_rule_id(request))
    return no_content()


def add_rule_routes(r: APIRouter) -> None:
    base = "/users/{user}/mailFolders/{folder}/messageRules"
    r.add_api_route(base, list_rules, methods=["GET"])
    r.add_api_route(base, create_rule, methods=["POST"])
    # Rule ids are standard base64 ("AQAAAJ5d/qA="): a client escapes "/" as %2F, which the
    # server sees decoded, so the id segment takes the rest of the path.
    r.add_api_route(base + "/{rid:path}", get_rule, methods=["GET"])
    r.add_api_route(base + "/{rid:path}", patch_rule, methods=["PATCH"])
    r.add_api_route(base + "/{rid:path}", delete_rule, methods=["DELETE"], status_code=204)
