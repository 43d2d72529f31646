"""``GET /users/{u}/mailboxSettings`` and ``GET /users/{u}/mailboxSettings/{property}``.

Needs ``MailboxSettings.Read`` or ``MailboxSettings.ReadWrite`` (403 ``ErrorAccessDenied``
otherwise); an unknown user is 404 ``ErrorInvalidUser`` and a mailbox hosted on-premises 404
``MailboxNotEnabledForRESTAPI``, as for every mail route. A property answers as Graph does: a
complex value as an object with its own ``@odata.context``, a primitive or enum one as
``{"@odata.context", "value"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from m365sandbox.context import GraphHTTPError, require_role
from m365sandbox.mail.common import context, mailbox_of, reply, user_segment
from m365sandbox.mail.schema import MAILBOX_SETTINGS_PROPERTIES

Json = dict[str, Any]
READ_SETTINGS = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")


def _settings(request: Request, user_ref: str) -> tuple[Any, Json]:
    require_role(request, *READ_SETTINGS)
    tenant, user, mb = mailbox_of(request, user_ref)
    recipient = (getattr(tenant, "recipients", None) or {}).get(user["id"]) or {}
    return tenant, mb.mailbox_settings(user, recipient.get("RecipientTypeDetails"))


def get_settings(request: Request, user: str) -> JSONResponse:
    tenant, settings = _settings(request, user)
    fragment = f"{user_segment(user)}/mailboxSettings"
    return reply({"@odata.context": context(tenant, fragment), **settings})


def get_setting(request: Request, user: str, name: str) -> JSONResponse:
    if name not in MAILBOX_SETTINGS_PROPERTIES:
        raise GraphHTTPError(400, "BadRequest", f"Resource not found for the segment '{name}'.")
    tenant, settings = _settings(request, user)
    ctx = context(tenant, f"{user_segment(user)}/mailboxSettings/{name}")
    value = settings[name]
    return reply({"@odata.context": ctx, **value} if isinstance(value, dict) else
                 {"@odata.context": ctx, "value": value})


def add_settings_routes(r: APIRouter) -> None:
    r.add_api_route("/users/{user}/mailboxSettings", get_settings, methods=["GET"])
    r.add_api_route("/users/{user}/mailboxSettings/{name}", get_setting, methods=["GET"])
