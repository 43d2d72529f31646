"""``POST /v1.0/$batch``: up to 20 requests, each dispatched through the whole app (so each is
authenticated, faulted and throttled on its own), ``dependsOn`` ordering, 424 for failed
dependencies."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request

from m365sandbox.context import GraphHTTPError

Json = dict[str, Any]
MAX_REQUESTS = 20


def _validate(body: Any) -> list[Json]:
    reqs = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(reqs, list) or not reqs:
        raise GraphHTTPError(400, "BadRequest", "Invalid batch payload format.")
    if len(reqs) > MAX_REQUESTS:
        raise GraphHTTPError(400, "BadRequest", f"Number of batch request steps exceeds the maximum of "
                             f"{MAX_REQUESTS}.")
    ids = [str(r.get("id", "")) for r in reqs]
    if "" in ids or len(set(ids)) != len(ids):
        raise GraphHTTPError(400, "BadRequest", "Batch request ids must be unique and non-empty.")
    for r in reqs:
        if not r.get("method") or not r.get("url"):
            raise GraphHTTPError(400, "BadRequest", f"Request '{r.get('id')}' needs a method and a url.")
        for dep in r.get("dependsOn") or []:
            if str(dep) not in ids:
                raise GraphHTTPError(400, "BadRequest", f"Request '{r['id']}' depends on unknown id '{dep}'.")
    return reqs


async def _dispatch(request: Request, item: Json) -> Json:
    url = str(item["url"])
    parts = urlsplit(url if url.startswith("/") else "/" + url)
    path = parts.path if parts.path.lower().startswith("/v1.0") else "/v1.0" + parts.path
    if path.lower().rstrip("/") == "/v1.0/$batch":
        nested = {"code": "BadRequest", "message": "Nested batches are not supported."}
        return {"status": 400, "headers": {}, "body": {"error": nested}}
    headers = [(k, v) for k, v in request.scope["headers"]
               if k.lower() in (b"authorization", b"client-request-id", b"consistencylevel", b"prefer",
                                b"host")]
    body = b""
    if item.get("body") is not None:
        body = json.dumps(item["body"]).encode()
    for k, v in (item.get("headers") or {}).items():
        headers = [(hk, hv) for hk, hv in headers if hk.lower() != k.lower().encode()]
        headers.append((k.lower().encode(), str(v).encode()))
    if body and not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    scope = {**{k: v for k, v in request.scope.items() if k not in ("state", "sandbox.raw_send", "router",
                                                                     "endpoint", "path_params", "route")},
             "method": str(item["method"]).upper(), "path": path, "raw_path": path.encode(),
             "query_string": parts.query.encode(), "headers": headers, "state": {}}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, out_headers, chunks = 500, {}, []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, out_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await request.app(scope, receive, send)
    except Exception:  # noqa: BLE001 - a failing item must not fail the batch
        status = 500
    raw = b"".join(chunks)
    keep = {k: v for k, v in out_headers.items() if k.lower() in ("retry-after", "content-type", "location",
                                                                   "request-id", "client-request-id")}
    result: Json = {"status": status, "headers": keep}
    if raw:
        try:
            result["body"] = json.loads(raw)
        except ValueError:
            result["body"] = base64.b64encode(raw).decode()
    return result


def build_batch_router() -> APIRouter:
    r = APIRouter()

    @r.post("/$batch")
    async def batch(request: Request) -> Json:
        try:
            payload = await request.json()
        except ValueError as exc:
            raise GraphHTTPError(400, "BadRequest", "Invalid batch payload format.") from exc
        reqs = _validate(payload)
        by_id = {str(r["id"]): r for r in reqs}
        done: dict[str, Json] = {}

        async def run(rid: str, stack: tuple[str, ...] = ()) -> Json:
            if rid in done:
                return done[rid]
            if rid in stack:
                raise GraphHTTPError(400, "BadRequest", "Batch dependencies form a cycle.")
            item = by_id[rid]
            deps = [str(d) for d in item.get("dependsOn") or []]
            failed = False
            for d in deps:
                res = await run(d, (*stack, rid))
                failed = failed or res["status"] >= 400
            if failed:
                res = {"status": 424, "headers": {}, "body": {"error": {
                    "code": "FailedDependency",
                    "message": "Request failed because a request it depends on failed."}}}
            else:
                res = await _dispatch(request, item)
            done[rid] = {"id": rid, **res}
            return done[rid]

        for r in reqs:
            await run(str(r["id"]))
        return {"responses": [done[str(r["id"])] for r in reqs]}

    return r
