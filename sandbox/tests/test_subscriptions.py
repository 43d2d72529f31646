"""``/v1.0/subscriptions``: Graph's shapes, the validation handshake, notifications on delivery,
lifecycle notifications, expiry on the sandbox clock and the per-tenant notification switch."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from m365sandbox import Sandbox, SandboxServer
from m365sandbox.subscriptions import MAX_MESSAGE_MINUTES

from .conftest import TENANT_A

ALICE = "alice@contoso.example"


class LocalServer:
    """An ASGI app served by uvicorn on a loopback port of its own, from a daemon thread."""

    def __init__(self, app: FastAPI) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                                     access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="test-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


class Receiver:
    """A minimal notification endpoint: echoes validation tokens, records what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lifecycle: list[dict[str, Any]] = []
        self.echo = True
        self.cond = threading.Condition()
        app = FastAPI()

        async def handle(request: Request, sink: list[dict[str, Any]]) -> Response:
            token = request.query_params.get("validationToken")
            if token is not None:
                return PlainTextResponse(token if self.echo else "nope")
            body = await request.json()
            with self.cond:
                sink.extend(body["value"])
                self.cond.notify_all()
            return Response(status_code=202)

        @app.post("/notify")
        async def notify(request: Request) -> Response:
            return await handle(request, self.received)

        @app.post("/lifecycle")
        async def lifecycle(request: Request) -> Response:
            return await handle(request, self.lifecycle)

        self.server = LocalServer(app)

    def wait_for(self, sink: list[dict[str, Any]], n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(lambda: len(sink) >= n, timeout=timeout)
            return list(sink)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.server.start()
    yield r
    r.server.stop()


@pytest.fixture
def rx(receiver: Receiver) -> Receiver:
    receiver.received.clear()
    receiver.lifecycle.clear()
    receiver.echo = True
    return receiver


def _expiry(sb: Sandbox, minutes: float) -> str:
    return (datetime.fromtimestamp(sb.clock(), UTC) + timedelta(minutes=minutes)).isoformat().replace(
        "+00:00", "Z")


def _create(graph: httpx.Client, sb: Sandbox, rx: Receiver, **kw: Any) -> httpx.Response:
    body = {"changeType": "created", "notificationUrl": rx.server.url + "/notify",
            "lifecycleNotificationUrl": rx.server.url + "/lifecycle",
            "resource": f"users/{ALICE}/mailFolders('inbox')/messages",
            "expirationDateTime": _expiry(sb, 60), "clientState": "s3cret-state", **kw}
    return graph.post("/subscriptions", json=body)


def _deliver(server: SandboxServer, user: str = ALICE, folder: str = "inbox", subject: str = "hi") -> str:
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        r = c.post(f"{server.url}/_sandbox/tenants/{TENANT_A}/mailboxes/{user}/messages",
                   json={"message": {"subject": subject, "body": {"contentType": "text", "content": "x"}},
                         "folder": folder})
        r.raise_for_status()
        return str(r.json()["id"])


def _control(server: SandboxServer, method: str, path: str, **kw: Any) -> Any:
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        r = c.request(method, f"{server.url}/_sandbox/tenants/{TENANT_A}{path}", **kw)
        r.raise_for_status()
        return r.json()


def test_create_runs_the_handshake_and_answers_graphs_shape(graph: httpx.Client, sb: Sandbox,
                                                            rx: Receiver) -> None:
    r = _create(graph, sb, rx)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["@odata.context"].endswith("/v1.0/$metadata#subscriptions/$entity")
    assert {"id", "resource", "changeType", "clientState", "notificationUrl", "expirationDateTime",
            "applicationId", "lifecycleNotificationUrl", "latestSupportedTlsVersion"} <= set(sub)
    listed = graph.get("/subscriptions").json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert graph.get(f"/subscriptions/{sub['id']}").json()["resource"] == sub["resource"]


def test_create_fails_when_the_endpoint_does_not_echo_the_token(graph: httpx.Client, sb: Sandbox,
                                                                rx: Receiver) -> None:
    rx.echo = False
    r = _create(graph, sb, rx)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ValidationError"
    assert graph.get("/subscriptions").json()["value"] == []


@pytest.mark.parametrize(("field", "value"), [
    ("expirationDateTime", "past"), ("expirationDateTime", "too-far"), ("changeType", "exploded"),
    ("resource", "users/nobody@contoso.example/messages"), ("notificationUrl", "https://example.com/x"),
])
def test_create_refuses_invalid_requests(graph: httpx.Client, sb: Sandbox, rx: Receiver, field: str,
                                         value: str) -> None:
    if value == "past":
        value = _expiry(sb, -1)
    elif value == "too-far":
        value = _expiry(sb, MAX_MESSAGE_MINUTES + 5)
    r = _create(graph, sb, rx, **{field: value})
    assert r.status_code in (400, 404), r.text
    assert "error" in r.json()


def test_delivery_into_the_subscribed_folder_notifies_with_client_state(
        graph: httpx.Client, sb: Sandbox, server: SandboxServer, rx: Receiver) -> None:
    sub = _create(graph, sb, rx).json()
    mid = _deliver(server)
    _deliver(server, folder="sentitems")  # another folder: no notification
    got = rx.wait_for(rx.received, 1)
    assert len(got) == 1
    n = got[0]
    assert n["subscriptionId"] == sub["id"] and n["clientState"] == "s3cret-state"
    assert n["changeType"] == "created" and n["tenantId"] == TENANT_A
    assert n["resourceData"]["id"] == mid and n["resourceData"]["@odata.type"] == "#Microsoft.Graph.Message"
    assert n["resource"].endswith(f"/Messages/{mid}")
    counters = _control(server, "GET", "/subscriptions")["counters"]
    assert counters["delivered"] == 1


def test_switched_off_notifications_are_not_sent_but_mail_is_delivered(
        graph: httpx.Client, sb: Sandbox, server: SandboxServer, rx: Receiver) -> None:
    _create(graph, sb, rx)
    _control(server, "POST", "/notifications", json={"enabled": False})
    _deliver(server)
    counters = _control(server, "GET", "/subscriptions")["counters"]
    assert counters["suppressed"] == 1 and counters.get("notified", 0) == 0
    assert len(graph.get(f"/users/{ALICE}/mailFolders/inbox/messages").json()["value"]) >= 1
    _control(server, "POST", "/notifications", json={"enabled": True})
    _deliver(server)
    assert len(rx.wait_for(rx.received, 1)) == 1


def test_renewal_patch_and_expiry_on_the_sandbox_clock(graph: httpx.Client, sb: Sandbox,
                                                       server: SandboxServer, rx: Receiver) -> None:
    sub = _create(graph, sb, rx, expirationDateTime=_expiry(sb, 10)).json()
    r = graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": _expiry(sb, 20)})
    assert r.status_code == 200 and r.json()["expirationDateTime"] > sub["expirationDateTime"]
    assert graph.patch(f"/subscriptions/{sub['id']}", json={"resource": "x"}).status_code == 400
    sb.clock.advance(21 * 60)  # type: ignore[attr-defined]
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404
    _deliver(server)
    assert _control(server, "GET", "/subscriptions")["counters"].get("delivered", 0) == 0


def test_lifecycle_events_reach_the_lifecycle_url_and_removal_deletes(
        graph: httpx.Client, sb: Sandbox, server: SandboxServer, rx: Receiver) -> None:
    sub = _create(graph, sb, rx).json()
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        _control(server, "POST", f"/subscriptions/{sub['id']}/lifecycle", json={"event": event})
    got = rx.wait_for(rx.lifecycle, 3)
    assert sorted(n["lifecycleEvent"] for n in got) == ["missed", "reauthorizationRequired",
                                                        "subscriptionRemoved"]
    assert all(n["clientState"] == "s3cret-state" and n["subscriptionId"] == sub["id"] for n in got)
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404


def test_delete_stops_notifications(graph: httpx.Client, sb: Sandbox, server: SandboxServer,
                                    rx: Receiver) -> None:
    sub = _create(graph, sb, rx).json()
    assert graph.delete(f"/subscriptions/{sub['id']}").status_code == 204
    _deliver(server)
    counters = _control(server, "GET", "/subscriptions")["counters"]
    assert counters.get("delivered", 0) == 0 and counters["pending"] == 0
    assert rx.received == []
