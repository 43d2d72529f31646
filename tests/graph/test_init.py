"""build_graph_client / build_exchange_client wire msal tokens for the right resource into the clients."""

from __future__ import annotations

import httpx
import pytest

from mailwarden.graph import (
    ClientSecretCredential,
    TokenProvider,
    build_exchange_client,
    build_graph_client,
    endpoints_for,
)

from ._support import fresh_tenant, reply
from .test_auth import CLIENT_ID, FakeIdp


@pytest.fixture
def idp(monkeypatch: pytest.MonkeyPatch) -> FakeIdp:
    fake = FakeIdp("https://localhost:9444")
    monkeypatch.setattr(TokenProvider, "_http_client", lambda self: fake)
    return fake


def test_build_graph_client_uses_a_graph_audience_token(idp: FakeIdp) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return reply(200, {"value": []})

    ep = endpoints_for(
        "usgov-gcchigh",
        login_url=idp.base,
        graph_url="https://127.0.0.1:9443",
        exchange_url="https://127.0.0.1:9443",
    )
    cred = ClientSecretCredential(CLIENT_ID, "secret-value")
    with build_graph_client(fresh_tenant(), cred, ep, transport=httpx.MockTransport(handler)) as graph:
        assert list(graph.iter_pages("/users")) == []
    with build_exchange_client(fresh_tenant(), cred, ep, transport=httpx.MockTransport(handler)) as exo:
        assert exo.invoke("Get-Mailbox") == []
    assert seen == ["Bearer token-1", "Bearer token-2"]
    scopes = [post["scope"] for post in idp.token_posts]
    assert scopes == ["https://graph.microsoft.us/.default", "https://outlook.office365.us/.default"]
