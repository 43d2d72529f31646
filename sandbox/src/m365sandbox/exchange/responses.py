"""``POST /adminapi/beta/{tenant}/InvokeCommand``: the Exchange Online admin API's reply shapes.

Replies are ``{"@odata.context", "adminapi.warnings", "value"}`` with ``@odata.nextLink`` when
``Prefer: odata.maxpagesize`` cuts the output. Errors carry the message in
``error.details[].message`` (``"ExNNNN|ExceptionType|text"``) and
``error.innererror.internalException``.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from m365sandbox.exchange.models import CmdletError, Cmdlets, pages_of
from m365sandbox.odata import decode_token, encode_token
from m365sandbox.state import TenantState

Json = dict[str, Any]
DEFAULT_PAGE = 1000


def cmdlet_error(status: int, exception_type: str, message: str) -> JSONResponse:
    code = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(
        status, "InternalServerError")
    tag = f"Ex{zlib.crc32(exception_type.encode()) & 0xFFFFFF:06X}"
    return JSONResponse(status_code=status, content={"error": {
        "code": code, "message": "Error executing cmdlet",
        "details": [{"code": "Context", "target": "", "message": f"{tag}|{exception_type}|{message}"}],
        "innererror": {"message": message,
                       "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                       "internalException": {"message": message, "type": exception_type}},
        "adminapi.warnings": []}})


async def invoke_command(tenant: str, request: Request) -> JSONResponse:
    sb = request.app.state.sandbox
    t: TenantState = request.state.tenant
    if sb.find_tenant(tenant) is not t:
        return cmdlet_error(401, "Microsoft.Exchange.Admin.OData.Core.UnauthorizedAccessException",
                            "The tenant in the request does not match the tenant of the access token.")
    if "Exchange.ManageAsApp" not in request.state.roles:
        return cmdlet_error(403, "System.UnauthorizedAccessException",
                            "The role assigned to application isn't supported in this scenario.")
    try:
        body = await request.json()
        cmd = body["CmdletInput"]
        name, params = str(cmd["CmdletName"]), dict(cmd.get("Parameters") or {})
    except (ValueError, KeyError, TypeError):
        return cmdlet_error(400, "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                            "The request body must be {\"CmdletInput\": {\"CmdletName\", \"Parameters\"}}.")
    m = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
    size = max(1, int(m.group(1))) if m else DEFAULT_PAGE
    token = request.query_params.get("$skiptoken")
    state = (decode_token(token) or {}) if token else {}
    offset = int(state.get("o", 0))
    snap = str(state.get("s") or "")
    pages = pages_of(sb)
    rows = pages.get(t.id, snap) if snap else None
    if rows is None:
        try:
            rows = Cmdlets(t).run(name, params)
        except CmdletError as exc:
            return cmdlet_error(exc.status, exc.exception_type, exc.message)
        snap = ""
    if offset + size < len(rows) and not snap:
        snap = pages.keep(t.id, rows)
    base = str(request.base_url).rstrip("/")
    out: Json = {"@odata.context": f"{base}/adminapi/beta/{t.id}/$metadata#Collection(Exchange.GenericHashTable)",
                 "adminapi.warnings": []}
    if offset + size < len(rows):
        out["@odata.nextLink"] = (f"{base}/adminapi/beta/{tenant}/InvokeCommand?$skiptoken="
                                  + encode_token({"o": offset + size, "s": snap}))
    elif snap:
        pages.drop(t.id, snap)
    out["value"] = rows[offset:offset + size]
    return JSONResponse(out)
