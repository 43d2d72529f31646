"""Which failures re-send a request: reads always, a POST/PATCH only when it surely was not run."""

from __future__ import annotations

import json
from collections.abc import Generator

import httpx
import pytest

from mailwarden.exchange import ExchangeClient
from mailwarden.graph import (
    BatchRequest,
    GraphError,
    GraphTransportError,
    HostNotAllowed,
    RetryPolicy,
    ServiceUnavailable,
    endpoints_for,
)

from ._support import FakeAuth, FakeSleep, Recorder, graph_error, make_client, never_called, reply

TRUNCATED = httpx.Response(200, content=b'{"id": "AAM', headers={"content-type": "application/json"})


def then_ok(first: httpx.Response | Exception, ok: httpx.Response | None = None) -> Recorder:
    """Answers ``first`` (or raises it) once, then ``ok`` (default: 202) for every later request."""

    def respond(request: httpx.Request) -> httpx.Response:
        if len(rec.requests) == 1:
            if isinstance(first, Exception):
                raise first
            return first
        return ok if ok is not None else httpx.Response(202)

    rec = Recorder(respond)
    return rec


AMBIGUOUS = [
    pytest.param(TRUNCATED, id="reply-body-truncated"),
    pytest.param(httpx.ReadError("connection reset by peer"), id="read-error"),
    pytest.param(httpx.RemoteProtocolError("peer closed connection without a complete body"), id="cut-mid-reply"),
    pytest.param(httpx.ReadTimeout("timed out"), id="read-timeout"),
    pytest.param(httpx.WriteError("broken pipe"), id="write-error"),
    pytest.param(graph_error(500, "generalException", "boom"), id="500"),
    pytest.param(graph_error(502, "badGateway", "boom"), id="502"),
    pytest.param(graph_error(504, "gatewayTimeout", "boom"), id="504"),
    pytest.param(graph_error(503, "serviceNotAvailable", "busy"), id="503-without-retry-after"),
]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("first", AMBIGUOUS)
def test_a_write_with_an_unknown_outcome_is_not_sent_twice(method, first) -> None:
    sleep = FakeSleep()
    rec = then_ok(first)
    client = make_client(rec, sleep=sleep)
    with pytest.raises(GraphTransportError, match="not re-sent"):
        client.request(method, "/users/u1/sendMail", json={"message": {"subject": "hi"}})
    assert len(rec.requests) == 1 and sleep.delays == []


def test_an_ambiguous_5xx_keeps_the_service_error_as_its_cause() -> None:
    client = make_client(then_ok(graph_error(500, "generalException", "boom", request_id="rid-5")))
    with pytest.raises(GraphTransportError) as info:
        client.post("/users/u1/messages/m1/move", {"destinationId": "junkemail"})
    assert isinstance(info.value.__cause__, ServiceUnavailable)
    assert info.value.__cause__.request_id == "rid-5" and "rid-5" in str(info.value)


SURELY_NOT_RUN = [
    pytest.param(httpx.ConnectError("connection refused"), id="connect-error"),
    pytest.param(httpx.ConnectTimeout("connect timed out"), id="connect-timeout"),
    pytest.param(httpx.PoolTimeout("no free connection"), id="pool-timeout"),
    pytest.param(graph_error(429, "TooManyRequests", "slow down", headers={"Retry-After": "3"}), id="429"),
    pytest.param(graph_error(429, "TooManyRequests", "slow down"), id="429-without-retry-after"),
    pytest.param(graph_error(503, "serviceNotAvailable", "busy", headers={"Retry-After": "2"}), id="503-retry-after"),
]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("first", SURELY_NOT_RUN)
def test_a_write_that_surely_did_not_run_is_re_sent(method, first) -> None:
    sleep = FakeSleep()
    rec = then_ok(first)
    client = make_client(rec, sleep=sleep)
    resp = client.request(method, "/users/u1/sendMail", json={"message": {"subject": "hi"}})
    assert resp.status_code == 202
    assert len(rec.requests) == 2 and len(sleep.delays) == 1


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
@pytest.mark.parametrize("first", AMBIGUOUS)
def test_idempotent_requests_are_still_retried_after_any_transient_failure(method, first) -> None:
    rec = then_ok(first, reply(200, {"ok": 1}))
    client = make_client(rec)
    assert client.request(method, "/users/u1/messageRules/r1").status_code == 200
    assert len(rec.requests) == 2


def test_a_batch_of_reads_is_re_sent_but_a_batch_with_a_write_is_not() -> None:
    def ok_for(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["requests"]
        return reply(200, {"responses": [{"id": i["id"], "status": 200, "body": {}} for i in items]})

    reads = [BatchRequest("1", "GET", "/users/u1/messages"), BatchRequest("2", "GET", "/users/u2/messages")]
    rec = Recorder(lambda r: ok_for(r) if len(rec.requests) > 1 else TRUNCATED)
    assert [r.status for r in make_client(rec).batch(reads)] == [200, 200]
    assert len(rec.requests) == 2

    writes = [*reads, BatchRequest("3", "POST", "/users/u1/messages/m1/move", body={"destinationId": "x"})]
    rec = Recorder(lambda r: ok_for(r) if len(rec.requests) > 1 else TRUNCATED)
    with pytest.raises(GraphTransportError, match="not re-sent"):
        make_client(rec).batch(writes)
    assert len(rec.requests) == 1


@pytest.mark.parametrize(("cmdlet", "sends"), [("Get-Mailbox", 2), ("Set-Mailbox", 1)])
def test_exchange_re_sends_a_get_cmdlet_but_not_a_changing_one(cmdlet, sends) -> None:
    tenant = "0b6f1c9e-3a3b-4c3c-8d8d-0123456789ab"
    rec = then_ok(httpx.ReadError("reset"), reply(200, {"value": [{"Name": "a"}]}))
    client = ExchangeClient(tenant, endpoints_for("global"), FakeAuth(), transport=httpx.MockTransport(rec),
                            retry=RetryPolicy(sleep=FakeSleep(), random=lambda: 1.0))
    if sends == 2:
        assert client.invoke(cmdlet, {"Identity": "a"}) == [{"Name": "a"}]
    else:
        with pytest.raises(GraphTransportError, match="not re-sent"):
            client.invoke(cmdlet, {"Identity": "a"})
    assert len(rec.requests) == sends


def test_a_malformed_url_is_a_graph_error_and_nothing_is_sent() -> None:
    client = make_client(never_called)
    with pytest.raises(HostNotAllowed, match="malformed URL"):
        client.get("/users/a\x00b")
    with pytest.raises(HostNotAllowed):
        client.get("/users/" + "a" * 70_000)


class StatusRaisingAuth(httpx.Auth):
    """An auth flow that raises an httpx error that is not a transport error."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        response.raise_for_status()


def test_a_non_transport_httpx_error_stays_in_the_error_tree() -> None:
    rec = Recorder(lambda r: reply(502))
    client = make_client(rec, auth=StatusRaisingAuth())
    with pytest.raises(GraphError, match="HTTPStatusError") as info:
        client.get("/users")
    assert not isinstance(info.value, GraphTransportError)
    assert len(rec.requests) == 1
