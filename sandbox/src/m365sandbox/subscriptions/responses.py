"""``/v1.0/subscriptions`` handlers: permissions, then the hub (:mod:`.models`), in Graph's shapes.

A caller sees and changes only the subscriptions its own app made in its own tenant (404 for
any other), as Graph does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Request
from fastapi.responses import JSONResponse, Response

from m365sandbox.context import require_role, tenant_of
from m365sandbox.subscriptions.models import SubscriptionHub, hub_of

Json = dict[str, Any]
READ_MAIL = ("Mail.Read", "Mail.ReadBasic", "Mail.ReadWrite", "Mail.ReadBasic.All")


def _context(tenant: Any, fragment: str) -> str:
    host = getattr(tenant, "graph_resource", None) or "https://graph.microsoft.com"
    return f"{host}/v1.0/$metadata#{fragment}"


def _caller(request: Request) -> tuple[Any, str, SubscriptionHub]:
    require_role(request, *READ_MAIL)
    return tenant_of(request), str(request.state.app_id), hub_of(request.app.state.sandbox)


def create_subscription(request: Request, body: Annotated[Json, Body()]) -> JSONResponse:
    tenant, app_id, hub = _caller(request)
    sub = hub.create(tenant, app_id, body)
    return JSONResponse(sub.to_json(_context(tenant, "subscriptions/$entity")), status_code=201)


def list_subscriptions(request: Request) -> Json:
    tenant, app_id, hub = _caller(request)
    return {"@odata.context": _context(tenant, "subscriptions"),
            "value": [s.to_json() for s in hub.list(tenant.id, app_id)]}


def get_subscription(request: Request, sid: str) -> Json:
    tenant, app_id, hub = _caller(request)
    return hub.get(tenant.id, app_id, sid).to_json(_context(tenant, "subscriptions/$entity"))


def update_subscription(request: Request, sid: str, body: Annotated[Json, Body()]) -> Json:
    tenant, app_id, hub = _caller(request)
    return hub.update(tenant.id, app_id, sid, body).to_json(_context(tenant, "subscriptions/$entity"))


def delete_subscription(request: Request, sid: str) -> Response:
    tenant, app_id, hub = _caller(request)
    hub.delete(tenant.id, app_id, sid)
    return Response(status_code=204)
