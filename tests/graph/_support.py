"""Test doubles for the Graph and Exchange clients: a fake auth, a fake sleep, a recording transport."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Generator
from typing import Any

import httpx

from mailwarden.graph import CloudEndpoints, GraphClient, RetryPolicy, endpoints_for

GRAPH = "https://graph.microsoft.com/v1.0"
_tenants = itertools.count(1)


def fresh_tenant() -> str:
    """A tenant id no other test used (the per-mailbox semaphores are process-wide)."""
    return f"00000000-0000-0000-0000-{next(_tenants):012d}"


class FakeAuth(httpx.Auth):
    """Adds a fixed bearer token; counts how often it was asked."""

    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.calls = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.calls += 1
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class FakeSleep:
    """Records requested delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Recorder:
    """A MockTransport handler that records requests and answers from a callable."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


def reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def graph_error(
    status: int, code: str, message: str, request_id: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    inner = {"date": "2024-01-01T00:00:00"}
    if request_id:
        inner["request-id"] = request_id
    return httpx.Response(
        status, json={"error": {"code": code, "message": message, "innerError": inner}}, headers=headers
    )


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    sleep: FakeSleep | None = None,
    endpoints: CloudEndpoints | None = None,
    tenant: str | None = None,
    auth: httpx.Auth | None = None,
    **retry: Any,
) -> GraphClient:
    policy = RetryPolicy(sleep=sleep or FakeSleep(), random=lambda: 1.0, **retry)
    return GraphClient(
        tenant or fresh_tenant(),
        endpoints or endpoints_for("global"),
        auth or FakeAuth(),
        transport=httpx.MockTransport(handler),
        retry=policy,
    )
