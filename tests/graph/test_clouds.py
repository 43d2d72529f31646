"""Cloud endpoint table, overrides (https on loopback only), and the host allow-list each client enforces."""

from __future__ import annotations

import pytest

from mailwarden.graph import Cloud, HostNotAllowed, endpoints_for

from ._support import Recorder, make_client, never_called, reply


@pytest.mark.parametrize(
    ("cloud", "login", "graph", "exchange", "rules"),
    [
        ("global", "login.microsoftonline.com", "graph.microsoft.com", "outlook.office365.com", True),
        ("usgov-gcchigh", "login.microsoftonline.us", "graph.microsoft.us", "outlook.office365.us", True),
        ("usgov-dod", "login.microsoftonline.us", "dod-graph.microsoft.us", "webmail.apps.mil", True),
        (
            "china",
            "login.partner.microsoftonline.cn",
            "microsoftgraph.chinacloudapi.cn",
            "partner.outlook.cn",
            False,
        ),
    ],
)
def test_each_cloud_has_its_own_hosts_and_resources(cloud, login, graph, exchange, rules) -> None:
    ep = endpoints_for(cloud)
    assert ep.cloud is Cloud(cloud)
    assert ep.login_url == f"https://{login}"
    assert ep.graph_url == ep.graph_resource == f"https://{graph}"
    assert ep.exchange_url == ep.exchange_resource == f"https://{exchange}"
    assert ep.supports_message_rules is rules
    assert ep.allowed_hosts() == {f"{graph}:443", f"{exchange}:443"}


def test_override_moves_requests_but_keeps_the_token_audience() -> None:
    ep = endpoints_for(
        Cloud.USGOV_GCCHIGH,
        login_url="https://127.0.0.1:8443/",
        graph_url="https://127.0.0.1:8443",
        exchange_url="https://127.0.0.1:8443",
    )
    assert ep.login_url == ep.graph_url == ep.exchange_url == "https://127.0.0.1:8443"
    assert ep.graph_resource == "https://graph.microsoft.us"
    assert ep.exchange_resource == "https://outlook.office365.us"
    assert ep.allowed_hosts() == {"127.0.0.1:8443"}


def test_client_sends_to_the_overridden_graph_host() -> None:
    rec = Recorder(lambda r: reply(200, {"id": "u1"}))
    client = make_client(rec, endpoints=endpoints_for("china", graph_url="https://127.0.0.1:9443"))
    client.get("/users/u1")
    assert str(rec.requests[0].url) == "https://127.0.0.1:9443/v1.0/users/u1"


@pytest.mark.parametrize("cloud", ["global", "usgov-gcchigh", "usgov-dod", "china"])
def test_client_uses_its_cloud_graph_host(cloud) -> None:
    rec = Recorder(lambda r: reply(200, {}))
    client = make_client(rec, endpoints=endpoints_for(cloud))
    client.get("/organization")
    assert rec.requests[0].url.host == endpoints_for(cloud).graph_url.removeprefix("https://")


def test_unknown_cloud_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown cloud"):
        endpoints_for("germany")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://x.example", "https"),
        ("http://graph.example.com", "https"),
        ("http://127.0.0.1:8443", "https"),
        ("not a url", "https"),
        ("", "https"),
        ("https://graph.elsewhere.example", "loopback"),
        ("https://192.168.1.10:8443", "loopback"),
        ("https://localhost.elsewhere.example", "loopback"),
        ("https://127.0.0.1/?q=1", "query"),
        ("https://127.0.0.1/#top", "fragment"),
        ("https://me:pw@127.0.0.1", "user info"),
        ("https://127.0.0.1:0x50", "port"),
    ],
)
def test_an_override_must_be_https_on_loopback(url, why) -> None:
    """Only the sandbox on this machine may stand in for Microsoft: the error says what is wrong."""
    for field in ("login_url", "graph_url", "exchange_url"):
        with pytest.raises(ValueError, match=why):
            endpoints_for("global", **{field: url})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.10.20.30", "[::1]", "localhost", "LocalHost"])
def test_every_loopback_address_may_stand_in(host) -> None:
    ep = endpoints_for("global", login_url=f"https://{host}:8443", graph_url=f"https://{host}:8443")
    assert ep.login_url == ep.graph_url == f"https://{host}:8443"
    assert ep.exchange_url == "https://outlook.office365.com"  # not overridden: Microsoft's


@pytest.mark.parametrize(
    "url",
    [
        "https://graph.microsoft.us/v1.0/users",
        "https://evil.example/v1.0/users",
        "https://graph.microsoft.com:8443/v1.0/users",
        "http://graph.microsoft.com/v1.0/users",
    ],
)
def test_client_refuses_urls_outside_its_cloud_before_sending(url) -> None:
    client = make_client(never_called)
    with pytest.raises(HostNotAllowed):
        client.get(url)
