"""What every mail route needs: the caller's mailbox, the clock, envelopes and links."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from m365sandbox.context import GraphHTTPError, tenant_of
from m365sandbox.mail.model import MailboxState

Json = dict[str, Any]
READ_MAIL = ("Mail.Read", "Mail.ReadWrite")
WRITE_MAIL = ("Mail.ReadWrite",)
TEXT_BODY = 'outlook.body-content-type="text"'


def mailbox_of(request: Request, user_ref: str) -> tuple[Any, Json, MailboxState]:
    """(tenant, user, mailbox) for ``/users/{id|upn}``; 404 as Exchange answers otherwise."""
    tenant = tenant_of(request)
    user = tenant.find_user(user_ref)
    if user is None:
        raise GraphHTTPError(404, "ErrorInvalidUser", f"The requested user '{user_ref}' is invalid.")
    mb = tenant.mailboxes.get(user["id"])
    if mb is None or (getattr(tenant, "recipients", None) or {}).get(user["id"], {}).get(
            "RecipientTypeDetails") == "MailUser":  # hybrid: the mailbox is on-premises
        raise GraphHTTPError(404, "MailboxNotEnabledForRESTAPI",
                             "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
    return tenant, user, mb


def now_of(request: Request) -> float:
    """The sandbox's clock when the app has one (tests drive it), else the wall clock."""
    sb = getattr(request.app.state, "sandbox", None)
    clock = getattr(sb, "clock", None)
    return float(clock()) if callable(clock) else time.time()


def user_segment(user_ref: str) -> str:
    return f"users('{quote(user_ref, safe='-')}')"


def context(tenant: Any, fragment: str) -> str:
    """``@odata.context`` on the tenant's Graph host."""
    host = getattr(tenant, "graph_resource", None) or "https://graph.microsoft.com"
    return f"{host}/v1.0/$metadata#{fragment}"


def select_suffix(select: list[str] | None) -> str:
    return f"({','.join(select)})" if select else ""


def link(request: Request, params: dict[str, str]) -> str:
    """An absolute URL for this request's path on the sandbox's own base URL."""
    base = str(request.base_url).rstrip("/")
    query = urlencode(params, quote_via=quote, safe="$,()/'")
    return f"{base}{request.url.path}?{query}"


def text_body_preferred(request: Request) -> bool:
    return TEXT_BODY.replace(" ", "") in request.headers.get("prefer", "").replace(" ", "")


def reply(body: Json, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def no_content(status: int = 204) -> Response:
    return Response(status_code=status)


async def json_body(request: Request) -> Json:
    """The request's JSON object, or Graph's 400 for a missing/invalid payload."""
    raw = await request.body()
    if not raw.strip():
        raise GraphHTTPError(400, "BadRequest", "Empty Payload. JSON content expected.")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise GraphHTTPError(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                             "Content-Type header is set and payload is of valid JSON format.") from exc
    if not isinstance(data, dict):
        raise GraphHTTPError(400, "BadRequest", "The request payload must be a JSON object.")
    return data
