"""$batch: limits, per-item auth/throttling/faults, dependsOn with 424."""

from __future__ import annotations

import httpx

from m365sandbox import Sandbox
from tests.conftest import TENANT_A

ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
BOB = "aaaaaaaa-u002-4000-8000-000000000000"


def _batch(graph: httpx.Client, requests: list[dict]) -> httpx.Response:
    return graph.post("/$batch", json={"requests": requests})


def test_batch_returns_200_with_mixed_item_statuses(graph: httpx.Client, sb: Sandbox) -> None:
    sb.faults.inject("429", tenant=TENANT_A, mailbox=ALICE, count=1, retry_after=3)
    r = _batch(graph, [
        {"id": "1", "method": "GET", "url": f"/users/{ALICE}/messages"},
        {"id": "2", "method": "GET", "url": "/users?$select=id"},
        {"id": "3", "method": "GET", "url": "/users/nobody"},
    ])
    assert r.status_code == 200
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert by_id["1"]["status"] == 429 and by_id["1"]["headers"]["retry-after"] == "3"
    assert by_id["2"]["status"] == 200 and len(by_id["2"]["body"]["value"]) == 4
    assert by_id["3"]["status"] == 404
    assert by_id["3"]["body"]["error"]["code"] == "Request_ResourceNotFound"


def test_batch_items_are_throttled_per_mailbox(graph: httpx.Client, sb: Sandbox) -> None:
    from m365sandbox.throttle import PROFILES
    from tests.conftest import use_profile

    use_profile(sb, PROFILES["realistic"].with_(mailbox_requests=2))
    r = _batch(graph, [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/messages"} for i in range(4)]
               + [{"id": "b", "method": "GET", "url": f"/users/{BOB}/messages"}])
    statuses = [x["status"] for x in r.json()["responses"]]
    assert statuses[:4].count(429) == 2 and statuses[4] != 429


def test_batch_depends_on_failed_item_gives_424(graph: httpx.Client) -> None:
    r = _batch(graph, [
        {"id": "a", "method": "GET", "url": "/users/nobody"},
        {"id": "b", "method": "PATCH", "url": f"/users/{ALICE}", "body": {"accountEnabled": False},
         "headers": {"Content-Type": "application/json"}, "dependsOn": ["a"]},
        {"id": "c", "method": "GET", "url": f"/users/{ALICE}", "dependsOn": ["a"]},
    ])
    statuses = {x["id"]: x["status"] for x in r.json()["responses"]}
    assert statuses == {"a": 404, "b": 424, "c": 424}


def test_batch_depends_on_runs_in_order(graph: httpx.Client, sb: Sandbox) -> None:
    r = _batch(graph, [
        {"id": "read", "method": "GET", "url": f"/users/{ALICE}?$select=accountEnabled", "dependsOn": ["w"]},
        {"id": "w", "method": "PATCH", "url": f"/users/{ALICE}", "body": {"accountEnabled": False},
         "headers": {"Content-Type": "application/json"}},
    ])
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert by_id["w"]["status"] == 204
    assert by_id["read"]["body"]["accountEnabled"] is False


def test_batch_limits_and_unique_ids(graph: httpx.Client) -> None:
    many = [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]
    assert _batch(graph, many).status_code == 400
    dup = [{"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/groups"}]
    assert _batch(graph, dup).status_code == 400
    bad_dep = [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]
    assert _batch(graph, bad_dep).status_code == 400


def test_batch_items_are_authenticated_on_their_own(graph: httpx.Client, sb: Sandbox) -> None:
    sb.revoke_consent(TENANT_A)
    r = _batch(graph, [{"id": "1", "method": "GET", "url": "/users"}])
    assert r.status_code == 403  # the envelope itself is refused too
