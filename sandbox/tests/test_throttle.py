"""Throttling: per-mailbox rate and concurrency, directory resource units, Retry-After."""

from __future__ import annotations

import threading

import httpx

from m365sandbox import Clock, Sandbox, SandboxServer
from m365sandbox.throttle import PROFILES, Throttler, directory_cost
from tests.conftest import use_profile

ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
MAILBOX_URL = f"/users/{ALICE}/messages"


def test_mailbox_rate_limit_counts_usage_while_throttled() -> None:
    clock = Clock(0.0)
    th = Throttler(PROFILES["realistic"].with_(mailbox_requests=3, mailbox_window=10), clock)
    assert [th.mailbox_request("app", "t", "mb") for _ in range(3)] == [None, None, None]
    clock.advance(5)
    assert th.mailbox_request("app", "t", "mb") == 5
    assert th.mailbox_request("app", "t", "other") is None  # per mailbox
    clock.advance(5.5)
    # the throttled request at t=5 still counts, so only 2 of the next 3 fit
    assert [th.mailbox_request("app", "t", "mb") for _ in range(3)] == [None, None, 5]


def test_concurrency_slots_are_per_app_per_mailbox() -> None:
    th = Throttler(PROFILES["realistic"], Clock(0.0))
    assert all(th.acquire("app", "t", "mb") for _ in range(4))
    assert not th.acquire("app", "t", "mb")
    assert th.acquire("app", "t", "mb2") and th.acquire("other-app", "t", "mb")
    th.release("app", "t", "mb")
    assert th.acquire("app", "t", "mb")


def test_directory_bucket_size_depends_on_tenant_size_and_costs() -> None:
    clock = Clock(0.0)
    th = Throttler(PROFILES["realistic"], clock)
    assert directory_cost("GET", "/users", False) == 2 and directory_cost("GET", "/users", True) == 1
    assert directory_cost("GET", "/groups/x/transitiveMembers", False) == 5
    assert sum(th.directory_request("a", "small", 10, 5) is None for _ in range(800)) == 700
    assert th.directory_request("a", "big", 600, 8000) is None  # >500 users: 8,000 units
    retry = th.directory_request("a", "small", 10, 5)
    assert retry is not None and retry >= 1


def _hammer(client: httpx.Client, n: int, honour: bool, clock: Clock) -> list[int]:
    statuses = []
    done = 0
    while done < n and len(statuses) < 50:
        r = client.get(MAILBOX_URL)
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            if honour:
                clock.advance(int(r.headers["Retry-After"]))  # a fake sleep
            continue
        done += 1
    return statuses


def test_client_ignoring_retry_after_keeps_getting_429(graph: httpx.Client, sb: Sandbox) -> None:
    use_profile(sb, PROFILES["realistic"].with_(mailbox_requests=5, mailbox_window=60))
    statuses = _hammer(graph, 10, honour=False, clock=sb.clock)  # type: ignore[arg-type]
    assert statuses.count(429) == 50 - 5 and len(statuses) == 50


def test_client_honouring_retry_after_completes(graph: httpx.Client, sb: Sandbox) -> None:
    use_profile(sb, PROFILES["realistic"].with_(mailbox_requests=5, mailbox_window=60))
    statuses = _hammer(graph, 10, honour=True, clock=sb.clock)  # type: ignore[arg-type]
    assert len([s for s in statuses if s != 429]) == 10
    assert 429 in statuses and len(statuses) < 20


def test_latency_profile_rejects_a_fifth_concurrent_request_per_mailbox(sb: Sandbox, server: SandboxServer,
                                                                       graph: httpx.Client) -> None:
    token = graph.headers["Authorization"]
    clients = [httpx.Client(verify=server.ca_file, trust_env=False, headers={"Authorization": token})
               for _ in range(8)]
    for c in clients:  # open the TLS connections first so the requests really overlap
        c.get(f"{server.url}/v1.0/organization")
    use_profile(sb, PROFILES["latency"].with_(latency=0.4))
    barrier = threading.Barrier(8)
    results: list[httpx.Response] = []

    def call(c: httpx.Client) -> None:
        barrier.wait()
        results.append(c.get(f"{server.url}/v1.0{MAILBOX_URL}"))

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    throttled = [r for r in results if r.status_code == 429]
    assert len(results) - len(throttled) <= 4 and len(throttled) >= 1
    assert throttled[0].json()["error"]["code"] == "ApplicationThrottled"
    assert throttled[0].headers["Retry-After"] == "1"
