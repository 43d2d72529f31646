"""Status/transport error translation, Retry-After, backoff and its caps (all with a fake sleep)."""

from __future__ import annotations

import httpx
import pytest

from mailwarden.graph import (
    DeltaExpired,
    Forbidden,
    GraphStatusError,
    GraphTransportError,
    NotFound,
    ServiceUnavailable,
    Throttled,
)

from ._support import FakeSleep, Recorder, graph_error, make_client, reply


def sequence(*responses):
    """A handler answering with the given responses (or raising given exceptions) in order."""
    it = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        r = next(it)
        if isinstance(r, Exception):
            raise r
        return r

    return handler


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "BadRequest", GraphStatusError),
        (403, "ErrorAccessDenied", Forbidden),
        (404, "ErrorItemNotFound", NotFound),
        (410, "SyncStateNotFound", DeltaExpired),
    ],
)
def test_error_status_maps_to_class_with_code_message_and_request_id(status, code, cls) -> None:
    rec = Recorder(lambda r: graph_error(status, code, "it failed", request_id="rid-123"))
    client = make_client(rec)
    with pytest.raises(cls) as info:
        client.get("/users/u1")
    exc = info.value
    assert type(exc) is cls
    assert (exc.status, exc.code, exc.message, exc.request_id) == (status, code, "it failed", "rid-123")
    assert "rid-123" in str(exc) and code in str(exc)
    assert len(rec.requests) == 1  # client errors are not retried


def test_request_id_falls_back_to_the_response_header() -> None:
    client = make_client(
        lambda r: httpx.Response(
            404, json={"error": {"code": "NotFound", "message": "x"}}, headers={"request-id": "hdr-rid"}
        )
    )
    with pytest.raises(NotFound) as info:
        client.get("/users/u1")
    assert info.value.request_id == "hdr-rid"


def test_error_without_json_body_still_maps_by_status() -> None:
    client = make_client(lambda r: httpx.Response(403, text="<html>denied</html>"))
    with pytest.raises(Forbidden, match="denied"):
        client.get("/users")


def test_429_retry_after_is_honoured_then_succeeds() -> None:
    sleep = FakeSleep()
    client = make_client(
        sequence(
            graph_error(429, "TooManyRequests", "slow down", headers={"Retry-After": "7"}),
            reply(200, {"ok": 1}),
        ),
        sleep=sleep,
    )
    assert client.get("/users/u1/messages") == {"ok": 1}
    assert sleep.delays == [7.0]


def test_503_retry_after_is_honoured_then_succeeds() -> None:
    sleep = FakeSleep()
    client = make_client(
        sequence(
            graph_error(503, "ServiceUnavailable", "busy", headers={"Retry-After": "3"}),
            reply(200, {"ok": 1}),
        ),
        sleep=sleep,
    )
    assert client.get("/users") == {"ok": 1}
    assert sleep.delays == [3.0]


def test_429_without_retry_after_backs_off_exponentially() -> None:
    sleep = FakeSleep()
    responses = [graph_error(429, "TooManyRequests", "x") for _ in range(3)] + [reply(200, {})]
    client = make_client(sequence(*responses), sleep=sleep, base_delay=1.0, max_delay=100)
    client.get("/users")
    assert sleep.delays == [1.0, 2.0, 4.0]  # jitter fixed at its maximum by the test policy


def test_backoff_is_capped_per_wait_by_max_delay() -> None:
    sleep = FakeSleep()
    responses = [httpx.Response(502) for _ in range(5)] + [reply(200, {})]
    client = make_client(sequence(*responses), sleep=sleep, base_delay=1.0, max_delay=3.0, max_attempts=10)
    client.get("/users")
    assert sleep.delays == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_throttling_past_the_total_wait_raises_throttled() -> None:
    sleep = FakeSleep()
    client = make_client(
        lambda r: graph_error(429, "TooManyRequests", "x", request_id="r9", headers={"Retry-After": "40"}),
        sleep=sleep,
        max_total_wait=100,
        max_attempts=50,
    )
    with pytest.raises(Throttled) as info:
        client.get("/users")
    assert sleep.delays == [40.0, 40.0]  # a third wait would pass the 100 s budget
    assert info.value.retry_after == 40.0 and info.value.request_id == "r9"


def test_persistent_5xx_raises_service_unavailable_after_max_attempts() -> None:
    sleep = FakeSleep()
    rec = Recorder(lambda r: graph_error(500, "generalException", "boom"))
    client = make_client(rec, sleep=sleep, max_attempts=3)
    with pytest.raises(ServiceUnavailable) as info:
        client.get("/users")
    assert info.value.status == 500
    assert len(rec.requests) == 3 and len(sleep.delays) == 2


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    ],
)
def test_transport_errors_are_retried(exc) -> None:
    sleep = FakeSleep()
    client = make_client(sequence(exc, reply(200, {"ok": 1})), sleep=sleep)
    assert client.get("/users") == {"ok": 1}
    assert len(sleep.delays) == 1


def test_persistent_transport_error_raises_graph_transport_error() -> None:
    def handler(request):
        raise httpx.ConnectError("refused")

    client = make_client(handler, max_attempts=2)
    with pytest.raises(GraphTransportError, match="ConnectError"):
        client.get("/users")


def test_truncated_json_body_on_200_is_retried() -> None:
    sleep = FakeSleep()
    bad = httpx.Response(
        200, content=b'{"value": [{"id": "1"}, {"id"', headers={"content-type": "application/json"}
    )
    client = make_client(sequence(bad, reply(200, {"value": []})), sleep=sleep)
    assert client.get("/users") == {"value": []}
    assert len(sleep.delays) == 1


def test_truncated_json_that_never_heals_is_a_transport_error() -> None:
    client = make_client(
        lambda r: httpx.Response(200, content=b'{"va', headers={"content-type": "application/json"}),
        max_attempts=2,
    )
    with pytest.raises(GraphTransportError, match="truncated"):
        client.get("/users")


def test_post_returns_none_for_202_without_body() -> None:
    client = make_client(lambda r: httpx.Response(202))
    assert client.post("/users/u1/sendMail", {"message": {}}) is None
