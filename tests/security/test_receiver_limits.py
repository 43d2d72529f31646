"""The notification receiver gives outside input a fixed cost (issue 16, attack 6).

Driven over real HTTP as someone on the receiver's network would: a 40 MiB body, a lying
Content-Length, JSON nested 200,000 deep, wrong shapes, a handshake that tries to reflect HTML, a
forged batch of 1,000 items, and a flood of forged notifications from another address while
Graph delivers a genuine one. Each test asserts that the world shows nothing happened: nothing is
queued, the server did not buffer the body, and the genuine notification is still queued.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from deployments.callback import CallbackServer, create_app
from mailwarden.store import Store, utcnow
from mailwarden.store.repositories import count_notifications, save_subscription

TENANT = "3c5a2b1e-1111-4222-8333-944455556666"
MAILBOX = "0a1b2c3d-0000-4000-8000-00000000abcd"
SUBSCRIPTION = "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910"
SECRET = "the-genuine-client-state-of-this-subscription"
MiB = 1024 * 1024


class NoRuns:
    async def state_of(self, flow_run_id: str) -> str | None:
        return None

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None:
        raise AssertionError("no consent flow here")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'receiver.sqlite'}")
    s.migrate()
    with s.session() as session:
        save_subscription(session, TENANT, MAILBOX, SUBSCRIPTION, resource=f"users/{MAILBOX}/messages",
                          client_state=SECRET, expires_at=utcnow() + timedelta(hours=1))
    return s


@pytest.fixture
def server(store: Store) -> Iterator[CallbackServer]:
    with CallbackServer(create_app(store, runs=NoRuns())) as srv:
        yield srv


def queued(store: Store) -> int:
    with store.session() as s:
        return sum(count_notifications(s).values())


def genuine(message_id: str = "AAMkAGI2") -> dict[str, Any]:
    return {"subscriptionId": SUBSCRIPTION, "clientState": SECRET, "tenantId": TENANT, "changeType": "created",
            "resource": f"Users/{MAILBOX}/Messages/{message_id}", "resourceData": {"id": message_id}}


def forged(n: int = 1) -> bytes:
    items = [{**genuine(f"m{i}"), "subscriptionId": str(uuid.uuid4()), "clientState": "guess"} for i in range(n)]
    return json.dumps({"value": items}).encode()


def raw_exchange(port: int, *parts: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes on a fresh connection and return what the server answered (up to its close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            for part in parts:
                sock.sendall(part)
        except OSError:
            pass  # the server may stop reading early; its answer is what matters
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return data


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_a_40_mib_streamed_body_is_refused_with_413_without_being_buffered(
    server: CallbackServer, store: Store
) -> None:
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:  # chunked upload: the client never holds the body either
        for _ in range(40 * MiB // len(chunk)):
            yield chunk

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with httpx.Client(timeout=30) as client:
            r = client.post(server.url + "/notifications", content=body(),
                            headers={"Content-Type": "application/json"})
        grown = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    print(f"peak traced memory while a 40 MiB body was posted: {grown / MiB:.2f} MiB")
    assert r.status_code == 413
    assert grown < 8 * MiB, f"the server buffered the body: peak grew by {grown / MiB:.1f} MiB"
    assert queued(store) == 0


def test_a_content_length_over_the_limit_is_refused_before_any_body_is_sent(
    server: CallbackServer, store: Store
) -> None:
    head = (b"POST /notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 41943040\r\n\r\n")
    started = time.monotonic()
    reply = raw_exchange(server.port, head, timeout=5)
    assert status_of(reply) == 413, reply[:200]
    assert time.monotonic() - started < 4  # answered at once, not after waiting for 40 MiB
    assert queued(store) == 0


def test_a_content_length_that_understates_the_body_is_cut_at_the_declared_length(
    server: CallbackServer, store: Store
) -> None:
    body = forged(1)
    head = (b"POST /notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    junk = b"x" * (8 * MiB)  # allocated before tracing: only the server's memory is measured
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        reply = raw_exchange(server.port, head, body, junk)
        grown = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    print(f"peak traced memory with 8 MiB past a lying Content-Length: {grown / MiB:.2f} MiB")
    assert status_of(reply) in (0, 403), reply[:200]  # the declared body, screened and refused
    assert grown < 8 * MiB
    assert queued(store) == 0
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_a_body_that_never_finishes_is_dropped_after_the_read_deadline(
    server: CallbackServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deployments.receiver as receiver

    monkeypatch.setattr(receiver, "BODY_TIMEOUT", 0.5)
    head = (b"POST /notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    reply = raw_exchange(server.port, head, b'{"value": [', timeout=5)
    assert status_of(reply) == 408, reply[:200]
    assert queued(store) == 0


@pytest.mark.parametrize("body", [
    b"[" * 200_000,
    b'{"value": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}",
    json.dumps({"value": [{"subscriptionId": SUBSCRIPTION, "x": json.loads("[" * 40 + "]" * 40)}]}).encode(),
], ids=["200000-open-brackets", "200000-deep-item", "40-deep-item"])
def test_deep_json_is_a_400_not_a_500(server: CallbackServer, store: Store, body: bytes) -> None:
    r = httpx.post(server.url + "/notifications", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert queued(store) == 0


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe{", b"", b'"a string"', b"[]", b"[1, 2]", b"{}", b'{"value": {}}',
    b'{"value": "x"}', b'{"value": [1]}', b'{"value": [[]]}', b'{"value": [{}], "extra": ' + b"1" * 5000 + b"}",
    b'{"value": [{}], "x": [' + b"[]," * 300_000 + b"[]]}",  # 900 KB that would decode into 300,000 lists
], ids=lambda b: b[:20].decode("latin-1"))
def test_non_json_and_wrong_shapes_are_a_400_and_queue_nothing(
    server: CallbackServer, store: Store, body: bytes
) -> None:
    for path in ("/notifications", "/lifecycle"):
        r = httpx.post(server.url + path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.status_code, r.text)
    assert queued(store) == 0


def test_too_many_items_in_one_request_are_refused_before_the_store(server: CallbackServer, store: Store) -> None:
    r = httpx.post(server.url + "/notifications", content=forged(1001), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert queued(store) == 0


def test_a_forged_batch_of_1000_items_costs_one_query_not_one_per_item(server: CallbackServer, store: Store) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        r = httpx.post(server.url + "/notifications", content=forged(1000),
                       headers={"Content-Type": "application/json"})
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert r.status_code == 403
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    print(f"a forged 1000-item batch ran {len(statements)} statement(s)")
    assert len(selects) <= 3, len(selects)
    assert queued(store) == 0


def test_the_validation_handshake_cannot_reflect_html(server: CallbackServer) -> None:
    token = "<html><script>alert(document.cookie)</script></html>"
    r = httpx.post(server.url + "/notifications", params={"validationToken": token})
    assert r.status_code == 200 and r.text == token  # Graph's handshake still works
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"
    too_long = httpx.post(server.url + "/lifecycle", params={"validationToken": "a" * 2049})
    assert too_long.status_code == 400 and "a" * 100 not in too_long.text


def _flood(url: str, source: str, stop: threading.Event, seen: Counter[int]) -> None:
    body = forged(20)
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10, headers={"Content-Type": "application/json"}) as client:
        while not stop.is_set():
            seen[client.post(url, content=body).status_code] += 1


def test_a_forged_flood_from_another_address_does_not_drop_a_genuine_notification(
    server: CallbackServer, store: Store
) -> None:
    stop = threading.Event()
    seen: Counter[int] = Counter()
    flooders = [threading.Thread(target=_flood, args=(server.url + "/notifications", "127.0.0.2", stop, seen))
                for _ in range(3)]
    for t in flooders:
        t.start()
    answers = []
    try:
        deadline = time.monotonic() + 10
        while sum(seen.values()) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        for n in range(5):  # Graph delivers genuine notifications during the flood
            started = time.monotonic()
            r = httpx.post(server.url + "/notifications", json={"value": [genuine(f"g{n}")]}, timeout=10)
            answers.append((r.status_code, round(time.monotonic() - started, 3)))
    finally:
        stop.set()
        for t in flooders:
            t.join(timeout=15)
    print(f"flood answers {dict(seen)}; genuine answers during it {answers}")
    assert [code for code, _ in answers] == [202] * 5
    assert queued(store) == 5  # the genuine ones, and only them
    assert set(seen) <= {403, 429} and seen[429] > 0  # the flood was refused, then throttled


def test_a_source_that_delivers_genuine_notifications_is_never_throttled(
    server: CallbackServer, store: Store
) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(transport=transport, timeout=10) as client:
        assert client.post(server.url + "/notifications", json={"value": [genuine("first")]}).status_code == 202
        codes = Counter(client.post(server.url + "/notifications", content=forged(1),
                                    headers={"Content-Type": "application/json"}).status_code
                        for _ in range(200))
        after = client.post(server.url + "/notifications", json={"value": [genuine("second")]})
    assert codes == Counter({403: 200})
    assert after.status_code == 202
    assert queued(store) == 2
