"""$batch: chunking to 20, unique ids, per-item 429 re-sends after their Retry-After, result order."""

from __future__ import annotations

import httpx
import pytest

from mailwarden.graph import BatchRequest, HostNotAllowed

from ._support import GRAPH, FakeSleep, Recorder, body_of, make_client, never_called, reply


def echo_batch(status_for=lambda item, round_no: 200):
    """A $batch handler answering each item with ``status_for(item, round)``; records the rounds."""
    rounds: list[list[dict]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/v1.0/$batch"
        items = body_of(request)["requests"]
        rounds.append(items)
        out = []
        for item in reversed(items):  # the service may answer in any order
            status = status_for(item, len(rounds))
            headers = (
                {"Retry-After": item["id"][-1]} if status == 429 else {"Content-Type": "application/json"}
            )
            out.append(
                {"id": item["id"], "status": status, "headers": headers, "body": {"echo": item["url"]}}
            )
        return reply(200, {"responses": out})

    return handler, rounds


def test_batch_splits_into_chunks_of_20_and_keeps_input_order() -> None:
    handler, rounds = echo_batch()
    reqs = [BatchRequest(id=f"r{i}", method="GET", url=f"/users/u{i}") for i in range(45)]
    results = make_client(handler).batch(reqs)
    assert [len(r) for r in rounds] == [20, 20, 5]
    assert [r.id for r in results] == [f"r{i}" for i in range(45)]
    assert results[7].body == {"echo": "/users/u7"} and results[7].status == 200


def test_only_throttled_items_are_resent_after_the_longest_retry_after() -> None:
    sleep = FakeSleep()
    # ids ending in 3 and 5 get 429 (Retry-After 3 and 5 s) in the first round only
    handler, rounds = echo_batch(lambda item, n: 429 if n == 1 and item["id"] in ("a3", "b5") else 200)
    reqs = [BatchRequest(id=i, method="GET", url=f"/users/{i}/messages") for i in ("a1", "a3", "b5", "c2")]
    results = make_client(handler, sleep=sleep).batch(reqs)
    assert sleep.delays == [5.0]
    assert [i["id"] for i in rounds[1]] == ["a3", "b5"]
    assert [(r.id, r.status) for r in results] == [("a1", 200), ("a3", 200), ("b5", 200), ("c2", 200)]


def test_items_still_throttled_past_the_budget_come_back_as_429() -> None:
    sleep = FakeSleep()
    handler, rounds = echo_batch(lambda item, n: 429 if item["id"] == "x9" else 200)
    reqs = [
        BatchRequest(id="ok1", method="GET", url="/users"),
        BatchRequest(id="x9", method="GET", url="/groups"),
    ]
    results = make_client(handler, sleep=sleep, max_total_wait=20).batch(reqs)
    assert sleep.delays == [9.0, 9.0]
    assert [r.status for r in results] == [200, 429]
    assert len(rounds) == 3


def test_depends_on_and_body_are_passed_through() -> None:
    handler, rounds = echo_batch()
    reqs = [
        BatchRequest(id="1", method="post", url="/users/u/mailFolders", body={"displayName": "Q"}),
        BatchRequest(id="2", method="GET", url=f"{GRAPH}/users/u/mailFolders?$top=5", depends_on=["1"]),
    ]
    make_client(handler).batch(reqs)
    first, second = rounds[0]
    assert first == {
        "id": "1",
        "method": "POST",
        "url": "/users/u/mailFolders",
        "body": {"displayName": "Q"},
        "headers": {"Content-Type": "application/json"},
    }
    assert second == {"id": "2", "method": "GET", "url": "/users/u/mailFolders?$top=5", "dependsOn": ["1"]}


def test_dependent_items_stay_in_one_chunk() -> None:
    handler, rounds = echo_batch()
    reqs = [BatchRequest(id=f"s{i}", method="GET", url="/users") for i in range(19)]
    reqs += [
        BatchRequest(id="p", method="GET", url="/users"),
        BatchRequest(id="c", method="GET", url="/users", depends_on=["p"]),
    ]
    make_client(handler).batch(reqs)
    assert [[i["id"] for i in r][-2:] for r in rounds] == [["s17", "s18"], ["p", "c"]]


def test_a_424_behind_a_throttled_dependency_is_resent_with_it() -> None:
    def status(item, n):
        if n == 1:
            return 429 if item["id"] == "p1" else 424
        return 200

    handler, rounds = echo_batch(status)
    reqs = [
        BatchRequest(id="p1", method="GET", url="/users"),
        BatchRequest(id="c", method="GET", url="/users", depends_on=["p1"]),
    ]
    results = make_client(handler).batch(reqs)
    assert [i["id"] for i in rounds[1]] == ["p1", "c"] and rounds[1][1]["dependsOn"] == ["p1"]
    assert [r.status for r in results] == [200, 200]


@pytest.mark.parametrize(
    "reqs",
    [
        [BatchRequest(id="1", method="GET", url="/a"), BatchRequest(id="1", method="GET", url="/b")],
        [BatchRequest(id="1", method="GET", url="/a", depends_on=["nope"])],
        [BatchRequest(id="", method="GET", url="/a")],
        [BatchRequest(id="1", method="TRACE", url="/a")],
        [
            BatchRequest(id=str(i), method="GET", url="/a", depends_on=[str(i - 1)] if i else None)
            for i in range(21)
        ],
    ],
)
def test_invalid_batches_are_rejected_before_any_request(reqs) -> None:
    with pytest.raises(ValueError):
        make_client(never_called).batch(reqs)


def test_batch_item_on_a_foreign_host_is_refused_before_any_request() -> None:
    with pytest.raises(HostNotAllowed):
        make_client(never_called).batch(
            [BatchRequest(id="1", method="GET", url="https://evil.example/v1.0/x")]
        )


def test_whole_batch_429_is_retried_like_any_request() -> None:
    sleep = FakeSleep()
    calls = iter(
        [
            httpx.Response(429, headers={"Retry-After": "2"}),
            reply(200, {"responses": [{"id": "1", "status": 200, "body": {}}]}),
        ]
    )
    rec = Recorder(lambda r: next(calls))
    results = make_client(rec, sleep=sleep).batch([BatchRequest(id="1", method="GET", url="/users")])
    assert sleep.delays == [2.0] and results[0].status == 200 and results[0].headers == {}
