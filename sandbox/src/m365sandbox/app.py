"""The sandbox's ASGI application: identity, Graph, Exchange and control routes behind one
gate that stamps request ids, checks tokens and consent, applies faults, throttling and latency.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from m365sandbox.batch import build_batch_router
from m365sandbox.context import GraphHTTPError
from m365sandbox.control import build_control_router
from m365sandbox.core import Sandbox
from m365sandbox.directory import build_directory_router
from m365sandbox.ews import build_ews_router
from m365sandbox.exchange import build_exchange_router
from m365sandbox.identity import TokenRejected, build_identity_router, validate_access_token
from m365sandbox.mail import build_mail_router
from m365sandbox.subscriptions import build_subscription_router
from m365sandbox.throttle import directory_cost

MAILBOX_PATH = re.compile(
    r"^/v1\.0/users/([^/]+)/(messages|mailFolders|mailboxSettings|sendMail|inferenceClassification"
    r"|calendar|calendars|events|contacts|contactFolders|outlook)(/|$|\?)", re.IGNORECASE)
DIRECTORY_PATH = re.compile(r"^/v1\.0/(users|groups|organization|subscribedSkus|directoryObjects)",
                            re.IGNORECASE)
LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


def graph_error_body(code: str, message: str, request_id: str, client_request_id: str) -> dict[str, Any]:
    """Graph's error envelope."""
    return {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
        "client-request-id": client_request_id}}}


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})


class Gate:
    """Pure ASGI middleware in front of every route (also for items dispatched by $batch)."""

    def __init__(self, app: ASGIApp, sb: Sandbox) -> None:
        self.app = app
        self.sb = sb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        st = _state(scope)
        rid = str(uuid.uuid4())
        crid = headers.get("client-request-id") or str(uuid.uuid4())
        st["request_id"], st["client_request_id"] = rid, crid

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"request-id", rid.encode()), (b"client-request-id", crid.encode())]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        path: str = scope["path"]
        if path.startswith("/_sandbox"):
            client = (scope.get("client") or ("127.0.0.1", 0))[0]
            if client not in LOOPBACK:
                await self._reply(stamped, 403, {"error": "control endpoint is loopback only"})
                return
            await self.app(scope, receive, stamped)
            return
        kind = "graph" if path.startswith("/v1.0") else "exchange" if path.startswith("/adminapi") else None
        if kind is None:
            await self.app(scope, receive, stamped)
            return
        await self._api(scope, receive, stamped, headers, kind)

    async def _reply(self, send: Send, status: int, body: dict[str, Any],
                     headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        hdrs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": raw})

    async def _error(self, scope: Scope, send: Send, status: int, code: str, message: str,
                     headers: dict[str, str] | None = None) -> None:
        st = _state(scope)
        await self._reply(send, status, graph_error_body(code, message, st["request_id"],
                                                         st["client_request_id"]), headers)

    async def _api(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str],
                   kind: str) -> None:
        sb = self.sb
        try:
            tenant, claims = validate_access_token(sb, headers.get("authorization"), kind)
        except TokenRejected as exc:
            await self._error(scope, send, 401, "InvalidAuthenticationToken", str(exc),
                              {"www-authenticate": 'Bearer realm="", error="invalid_token"'})
            return
        app_id = str(claims.get("appid"))
        st = _state(scope)
        st["tenant"], st["app_id"] = tenant, app_id
        st["roles"] = frozenset(claims.get("roles") or ())
        with tenant.lock:
            consent = tenant.consents.get(app_id)
        if consent is None or consent.effective_at > sb.clock():
            await self._error(scope, send, 403, "Authorization_RequestDenied",
                              "Insufficient privileges to complete the operation.")
            return
        path: str = scope["path"]
        m = MAILBOX_PATH.match(path)
        mailbox: str | None = None
        if m:
            user = tenant.find_user(m.group(1))
            mailbox = user["id"] if user else m.group(1).lower()
        is_batch_envelope = path.rstrip("/").lower() == "/v1.0/$batch"
        fault = None if is_batch_envelope else sb.faults.on_request(tenant.id, mailbox, path)
        if fault is not None:
            if fault.kind == "429":
                await self._error(scope, send, 429, "TooManyRequests", "Too many requests.",
                                  {"retry-after": str(fault.params.get("retry_after", 1))})
                return
            if fault.kind == "503":
                await self._error(scope, send, 503, "serviceNotAvailable", "Service unavailable.",
                                  {"retry-after": str(fault.params.get("retry_after", 1))})
                return
            if fault.kind == "mailbox_404":
                code = fault.params.get("code", "ErrorItemNotFound")
                msg = ("The specified object was not found in the store." if code == "ErrorItemNotFound"
                       else "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
                await self._error(scope, send, 404, code, msg)
                return
            if fault.kind == "reset":
                await self._reset(scope)
                return
            if fault.kind == "slow":
                await asyncio.sleep(float(fault.params.get("delay", 1.0)))
            if fault.kind == "truncate":
                send = _truncating(send)
        if mailbox is not None:
            retry = sb.throttler.mailbox_request(app_id, tenant.id, mailbox)
            if retry is not None:
                await self._error(scope, send, 429, "ApplicationThrottled",
                                  "Application is over its MailboxRequests limit.",
                                  {"retry-after": str(retry)})
                return
            if not sb.throttler.acquire(app_id, tenant.id, mailbox):
                await self._error(scope, send, 429, "ApplicationThrottled",
                                  "Application is over its MailboxConcurrency limit.",
                                  {"retry-after": str(sb.profile.concurrency_retry_after)})
                return
            try:
                if sb.profile.latency:
                    await asyncio.sleep(sb.profile.latency)
                await self.app(scope, receive, send)
            finally:
                sb.throttler.release(app_id, tenant.id, mailbox)
            return
        if DIRECTORY_PATH.match(path):
            query = scope.get("query_string", b"").decode()
            cost = directory_cost(scope["method"], path[len("/v1.0"):], "select=" in query)
            retry = sb.throttler.directory_request(app_id, tenant.id, len(tenant.users), cost)
            if retry is not None:
                await self._error(scope, send, 429, "TooManyRequests", "Too many requests.",
                                  {"retry-after": str(retry)})
                return
        if sb.profile.latency and not is_batch_envelope:
            await asyncio.sleep(sb.profile.latency)
        await self.app(scope, receive, send)

    async def _reset(self, scope: Scope) -> None:
        raw_send = scope.get("sandbox.raw_send")
        transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
        if transport is None:
            raise ConnectionResetError("sandbox fault: connection reset")
        transport.abort()
        for _ in range(3):
            await asyncio.sleep(0)


def _truncating(send: Send) -> Send:
    held: list[Message] = []
    body = bytearray()

    async def inner(message: Message) -> None:
        if message["type"] == "http.response.start":
            held.append(message)
            return
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            cut = bytes(body[: max(1, len(body) // 2)])
            start = held[0]
            start["headers"] = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            start["headers"].append((b"content-length", str(len(cut)).encode()))
            await send(start)
            await send({"type": "http.response.body", "body": cut})
            return
        await send(message)

    return inner


class RawSendMarker:
    """Outermost wrapper: remembers the server's own ``send`` so a reset fault can close it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["sandbox.raw_send"] = send
        await self.app(scope, receive, send)


def build_app(sb: Sandbox) -> FastAPI:
    """The whole sandbox as one FastAPI app (wrap with :class:`RawSendMarker` for a server)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.sandbox = sb

    @app.exception_handler(GraphHTTPError)
    async def graph_error(request: Request, exc: GraphHTTPError) -> JSONResponse:
        st = request.scope.get("state", {})
        return JSONResponse(status_code=exc.status, headers=exc.headers, content=graph_error_body(
            exc.code, exc.message, st.get("request_id", ""), st.get("client_request_id", "")))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        st = request.scope.get("state", {})
        path = request.url.path
        if not path.startswith("/v1.0"):
            return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})
        segment = path.rstrip("/").rsplit("/", 1)[-1]
        code, msg, status = (("BadRequest", f"Resource not found for the segment '{segment}'.", 400)
                             if exc.status_code == 404 else
                             ("Request_BadRequest", "Specified HTTP method is not allowed for the request "
                              "target.", 405) if exc.status_code == 405 else
                             ("BadRequest", str(exc.detail), exc.status_code))
        return JSONResponse(status_code=status, content=graph_error_body(
            code, msg, st.get("request_id", ""), st.get("client_request_id", "")))

    app.include_router(build_control_router())
    app.include_router(build_batch_router(), prefix="/v1.0")
    app.include_router(build_directory_router(), prefix="/v1.0")
    app.include_router(build_mail_router(), prefix="/v1.0")
    app.include_router(build_exchange_router())
    app.include_router(build_ews_router(sb))
    app.include_router(build_identity_router())
    app.include_router(build_subscription_router(), prefix="/v1.0")
    app.add_middleware(Gate, sb=sb)
    return app
