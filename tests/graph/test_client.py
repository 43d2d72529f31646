"""Paging over nextLink, delta rounds, input validation, and the client's request shape."""

from __future__ import annotations

import httpx
import pytest

from mailwarden.graph import DeltaExpired, GraphClient, GraphError, HostNotAllowed, endpoints_for

from ._support import GRAPH, FakeAuth, Recorder, graph_error, make_client, never_called, reply


def pages(mapping: dict[str, dict]):
    """A handler serving JSON pages keyed by URL path + query."""

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.url.raw_path.decode()
        if key not in mapping:
            return graph_error(404, "NotFound", f"no page {key}")
        return reply(200, mapping[key])

    return handler


def test_iter_pages_follows_next_links_lazily_and_resends_headers() -> None:
    rec = Recorder(
        pages(
            {
                "/v1.0/users?%24select=id&%24count=true": {
                    "value": [{"id": 1}, {"id": 2}],
                    "@odata.nextLink": f"{GRAPH}/users?$skiptoken=a",
                },
                "/v1.0/users?$skiptoken=a": {
                    "value": [{"id": 3}],
                    "@odata.nextLink": f"{GRAPH}/users?$skiptoken=b",
                },
                "/v1.0/users?$skiptoken=b": {"value": [{"id": 4}]},
            }
        )
    )
    client = make_client(rec)
    it = client.iter_pages(
        "/users", params={"$select": "id", "$count": "true"}, headers={"ConsistencyLevel": "eventual"}
    )
    assert next(it) == {"id": 1}
    assert len(rec.requests) == 1  # lazy: the next page is not fetched yet
    assert [u["id"] for u in it] == [2, 3, 4]
    assert len(rec.requests) == 3
    assert all(r.headers["ConsistencyLevel"] == "eventual" for r in rec.requests)
    assert all(r.headers["Authorization"] == "Bearer test-token" for r in rec.requests)
    # the nextLink is used as given: the first page's params are not appended again
    assert rec.requests[1].url.params.get("$select") is None


def test_iter_pages_stops_on_a_repeated_next_link(caplog) -> None:
    link = f"{GRAPH}/users?$skiptoken=loop"
    rec = Recorder(
        pages(
            {
                "/v1.0/users": {"value": [{"id": 1}], "@odata.nextLink": link},
                "/v1.0/users?$skiptoken=loop": {"value": [{"id": 2}], "@odata.nextLink": link},
            }
        )
    )
    client = make_client(rec)
    with caplog.at_level("WARNING"):
        assert [u["id"] for u in client.iter_pages("/users")] == [1, 2]
    assert len(rec.requests) == 2
    assert "repeated a nextLink" in caplog.text


def test_iter_pages_refuses_a_next_link_on_a_foreign_host() -> None:
    rec = Recorder(
        pages(
            {
                "/v1.0/users": {
                    "value": [{"id": 1}],
                    "@odata.nextLink": "https://attacker.example/v1.0/users?$skiptoken=x",
                }
            }
        )
    )
    client = make_client(rec)
    it = client.iter_pages("/users")
    assert next(it) == {"id": 1}
    with pytest.raises(HostNotAllowed):
        next(it)
    assert len(rec.requests) == 1


def test_iter_pages_refuses_a_next_link_to_the_exchange_host() -> None:
    rec = Recorder(
        pages({"/v1.0/users": {"value": [], "@odata.nextLink": "https://outlook.office365.com/x"}})
    )
    with pytest.raises(HostNotAllowed):
        list(make_client(rec).iter_pages("/users"))
    assert len(rec.requests) == 1


def test_delta_collects_items_and_the_delta_link() -> None:
    delta_link = f"{GRAPH}/users/delta?$deltatoken=final"
    rec = Recorder(
        pages(
            {
                "/v1.0/users/delta?%24select=id%2Cmail": {
                    "value": [{"id": "a"}],
                    "@odata.nextLink": f"{GRAPH}/users/delta?$skiptoken=1",
                },
                "/v1.0/users/delta?$skiptoken=1": {
                    "value": [{"id": "b", "@removed": {"reason": "changed"}}],
                    "@odata.deltaLink": delta_link,
                },
            }
        )
    )
    page = make_client(rec).delta("/users/delta", params={"$select": "id,mail"})
    assert [i["id"] for i in page.items] == ["a", "b"]
    assert page.delta_link == delta_link


def test_delta_resumes_from_a_stored_delta_link() -> None:
    link = f"{GRAPH}/users/delta?$deltatoken=t1"
    rec = Recorder(
        pages(
            {
                "/v1.0/users/delta?$deltatoken=t1": {
                    "value": [],
                    "@odata.deltaLink": f"{GRAPH}/users/delta?$deltatoken=t2",
                }
            }
        )
    )
    page = make_client(rec).delta(link)
    assert page.items == [] and page.delta_link.endswith("t2")
    assert str(rec.requests[0].url) == link


def test_iter_delta_sets_delta_link_after_exhaustion() -> None:
    rec = Recorder(
        pages({"/v1.0/groups/delta": {"value": [{"id": 1}], "@odata.deltaLink": f"{GRAPH}/g?d=1"}})
    )
    it = make_client(rec).iter_delta("/groups/delta")
    assert it.delta_link is None
    assert list(it) == [{"id": 1}]
    assert it.delta_link == f"{GRAPH}/g?d=1"


@pytest.mark.parametrize(
    "response",
    [
        graph_error(410, "Gone", "expired"),
        graph_error(400, "syncStateNotFound", "gone"),
        graph_error(400, "resyncRequired", "resync"),
    ],
)
def test_expired_delta_raises_delta_expired(response) -> None:
    client = make_client(lambda r: response)
    with pytest.raises(DeltaExpired):
        client.delta(f"{GRAPH}/users/delta?$deltatoken=old")


def test_delta_without_a_delta_link_is_an_error() -> None:
    client = make_client(lambda r: reply(200, {"value": [{"id": 1}]}))
    with pytest.raises(GraphError, match="deltaLink"):
        client.delta("/users/delta")


def test_verbs_send_the_right_method_path_and_body() -> None:
    rec = Recorder(lambda r: reply(201, {"id": "new"}) if r.method == "POST" else httpx.Response(204))
    client = make_client(rec)
    assert client.post("/users/u1/messages/m1/move", {"destinationId": "deleteditems"}) == {"id": "new"}
    assert client.patch("/users/u1", {"accountEnabled": False}) is None
    assert client.delete("/users/u1/mailFolders/inbox/messageRules/r1") is None
    assert [(r.method, r.url.path) for r in rec.requests] == [
        ("POST", "/v1.0/users/u1/messages/m1/move"),
        ("PATCH", "/v1.0/users/u1"),
        ("DELETE", "/v1.0/users/u1/mailFolders/inbox/messageRules/r1"),
    ]
    assert rec.requests[1].content == b'{"accountEnabled":false}'


@pytest.mark.parametrize("tenant", ["", "not a tenant", "contoso", "x" * 300 + ".com", "../etc", "a_b.com"])
def test_malformed_tenant_id_is_rejected_before_any_request(tenant) -> None:
    with pytest.raises(ValueError, match="tenant"):
        GraphClient(tenant, endpoints_for("global"), FakeAuth(), transport=httpx.MockTransport(never_called))


@pytest.mark.parametrize("tenant", ["contoso.onmicrosoft.com", "2F0C4B4E-1111-4A4A-9B9B-0123456789AB"])
def test_guid_and_domain_tenant_ids_are_accepted(tenant) -> None:
    client = GraphClient(
        tenant, endpoints_for("global"), FakeAuth(), transport=httpx.MockTransport(never_called)
    )
    assert client.tenant_id == tenant.lower()


def test_bad_method_is_rejected_before_any_request() -> None:
    with pytest.raises(ValueError):
        make_client(never_called).request("TRACE", "/users")


def test_repr_names_tenant_and_cloud_only() -> None:
    client = make_client(never_called, tenant="contoso.com")
    assert repr(client) == "GraphClient(tenant_id='contoso.com', cloud='global')"
