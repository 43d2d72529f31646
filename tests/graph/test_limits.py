"""The process-wide per-mailbox concurrency limit (4 in flight per tenant + mailbox)."""

from __future__ import annotations

import threading

import httpx
import pytest

from mailwarden.graph._limits import mailbox_of

from ._support import fresh_tenant, make_client, reply


@pytest.mark.parametrize(
    ("path", "mailbox"),
    [
        ("/users/U1@Contoso.com/messages", "u1@contoso.com"),
        ("https://graph.microsoft.com/v1.0/users/abc/mailFolders/inbox/messageRules", "abc"),
        ("/users/abc/mailboxSettings", "abc"),
        ("/users/abc/inferenceClassification/overrides", "abc"),
        ("/users/abc/messages?$top=5", "abc"),
        ("/users/abc", None),
        ("/users", None),
        ("/groups/g/members", None),
    ],
)
def test_mailbox_paths_are_recognised(path, mailbox) -> None:
    assert mailbox_of(path) == mailbox


class Gate:
    """A transport handler that holds every request for mailbox 'busy' until released."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0
        self.reached_four = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if "/users/busy/" not in request.url.path.lower():
            return reply(200, {"value": []})
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.in_flight >= 4:
                self.reached_four.set()
        try:
            assert self.release.wait(timeout=10), "test never released the gate"
            return reply(200, {"value": []})
        finally:
            with self.lock:
                self.in_flight -= 1


def test_at_most_four_requests_per_mailbox_in_flight_across_threads() -> None:
    gate = Gate()
    client = make_client(gate, tenant=fresh_tenant())
    started = threading.Semaphore(0)
    errors: list[BaseException] = []

    def worker() -> None:
        started.release()
        try:
            client.get("/users/BUSY/messages")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    try:
        for _ in threads:
            assert started.acquire(timeout=10)
        assert gate.reached_four.wait(timeout=10)
        # with 4 requests held in the transport, another mailbox is not blocked ...
        assert client.get("/users/other/messages") == {"value": []}
        # ... while the 6 other requests for 'busy' wait for a slot
        with gate.lock:
            assert gate.in_flight == 4
    finally:
        gate.release.set()
        for t in threads:
            t.join(timeout=10)
    assert not errors
    assert gate.calls == 10
    assert gate.max_in_flight == 4


def test_the_limit_is_shared_by_clients_of_the_same_tenant() -> None:
    gate = Gate()
    tenant = fresh_tenant()
    clients = [make_client(gate, tenant=tenant) for _ in range(5)]
    threads = [threading.Thread(target=c.get, args=("/users/busy/messages",)) for c in clients]
    for t in threads:
        t.start()
    try:
        assert gate.reached_four.wait(timeout=10)
        with gate.lock:
            assert gate.in_flight == 4
    finally:
        gate.release.set()
        for t in threads:
            t.join(timeout=10)
    assert gate.calls == 5 and gate.max_in_flight == 4
