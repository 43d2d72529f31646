"""``GET /users/{u}/mailFolders/{f}/messages/delta``: per-folder message sync.

The function is served under each name of :data:`~m365sandbox.odata.DELTA_SEGMENTS` (``delta``,
``delta()`` as Microsoft's SDKs send it, ``microsoft.graph.delta[()]``); the next and delta links
repeat the path of the request, so a round keeps the form its client started with.

Tokens are opaque (base64url JSON): mailbox owner, folder, the mailbox's token epoch, the round's
sequence window and the query options of the first request (Graph encodes those into its links).
A token whose mailbox or epoch no longer matches answers 410 ``SyncStateNotFound``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from m365sandbox.context import GraphHTTPError, require_role
from m365sandbox.mail.common import READ_MAIL, context, link, mailbox_of, reply
from m365sandbox.mail.model import Item
from m365sandbox.mail.query import parse_filter, parse_select, parse_top
from m365sandbox.mail.render import render_message
from m365sandbox.odata import DELTA_SEGMENTS, decode_token, encode_token

Json = dict[str, Any]
DEFAULT_PAGE = 10
MAX_PAGE = 1000
CHANGE_TYPES = ("created", "updated", "deleted")


def _gone() -> GraphHTTPError:
    return GraphHTTPError(410, "SyncStateNotFound", "The sync state is not found or has expired. "
                          "Synchronize again from the start, without a state token.")


def _page_size(request: Request) -> int:
    top = request.query_params.get("$top")
    if top is not None:
        return parse_top(top, maximum=MAX_PAGE)
    m = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
    return min(max(int(m.group(1)), 1), MAX_PAGE) if m else DEFAULT_PAGE


def _param(request: Request, name: str) -> str | None:
    for k, v in request.query_params.items():
        if k.lower() == name:
            return v
    return None


def messages_delta(request: Request) -> JSONResponse:
    """One page of a delta round: items, ``@removed`` entries, then a next or delta link."""
    require_role(request, *READ_MAIL)
    p = request.path_params
    tenant, user, mb = mailbox_of(request, p["user"])
    tenant_epoch = getattr(tenant, "delta_epoch", 0)
    skiptoken, deltatoken = _param(request, "$skiptoken"), _param(request, "$deltatoken")
    size = _page_size(request)
    with mb.lock:
        fid = mb.folder(p["folder"])
        if skiptoken or deltatoken:
            data = decode_token(skiptoken or deltatoken or "")
            if (data is None or data.get("m") != user["id"] or data.get("f") != fid
                    or data.get("e") != mb.epoch or data.get("te") != tenant_epoch):
                raise _gone()
            since = int(data.get("s", 0))
            upto, after = (int(data["u"]), int(data["a"])) if skiptoken else (mb.seq, since)
            select, filt, change = data.get("sel"), data.get("flt"), data.get("ct")
        else:
            q = request.query_params
            select, filt, change = parse_select(q.get("$select")), q.get("$filter"), q.get("changeType")
            if change is not None and change not in CHANGE_TYPES:
                raise GraphHTTPError(400, "ErrorInvalidUrlQuery", f"The changeType '{change}' is not valid.")
            since, upto, after = 0, mb.seq, 0
        keep = _keep(filt, change, since)
        entries, last, done = mb.delta_page(fid, since, upto, after, size, keep,
                                            removed=change in (None, "deleted"))
        values = [render_message(e, select, odata_type=True) if isinstance(e, Item) else
                  {"@odata.type": "#microsoft.graph.message", "id": e, "@removed": {"reason": "deleted"}}
                  for e in entries]
        state = {"m": user["id"], "f": fid, "e": mb.epoch, "te": tenant_epoch, "sel": select,
                 "flt": filt, "ct": change}
    body: Json = {"@odata.context": context(tenant, "Collection(message)"), "value": values}
    if done:
        body["@odata.deltaLink"] = link(request, {"$deltatoken": encode_token({**state, "s": upto})})
    else:
        body["@odata.nextLink"] = link(request, {"$skiptoken": encode_token(
            {**state, "s": since, "u": upto, "a": last})})
    return reply(body, headers={"Preference-Applied": f"odata.maxpagesize={size}"})


def _keep(filt: str | None, change: str | None, since: int) -> Callable[[Item], bool]:
    pred = parse_filter(filt, only_received_after=True)[0] if filt else None

    def keep(item: Item) -> bool:
        if change == "deleted":
            return False
        if change == "created" and item.cseq <= since:
            return False
        if change == "updated" and item.cseq > since:
            return False
        return pred is None or pred(item)

    return keep


def add_delta_routes(r: APIRouter) -> None:
    """Register before ``messages/{id}`` so ``delta`` is not taken for an id."""
    for segment in DELTA_SEGMENTS:
        r.add_api_route(f"/users/{{user}}/mailFolders/{{folder}}/messages/{segment}", messages_delta,
                        methods=["GET"])
