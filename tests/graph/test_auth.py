"""Credentials validation, msal token acquisition and error mapping, and MsalAuth's 401 refresh."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from mailwarden.graph import (
    AuthenticationError,
    CertificateCredential,
    ClientSecretCredential,
    ConsentMissing,
    GraphStatusError,
    MsalAuth,
    TokenProvider,
    build_graph_client,
    endpoints_for,
    validate_tenant_ref,
)

from ._support import Recorder, fresh_tenant, graph_error, make_client, never_called, reply

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t-VALUE-never-shown"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----\n"


# -- input validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["contoso.onmicrosoft.com", "a.b.c.example", "0b6f1c9e-3a3b-4c3c-8d8d-0123456789ab"]
)
def test_tenant_ref_accepts_guid_or_domain(value) -> None:
    assert validate_tenant_ref(value) == value.lower()


@pytest.mark.parametrize("value", ["", " ", "contoso", "common", "-bad.com", "a..b", "x/y.com", "a.123"])
def test_tenant_ref_rejects_the_rest(value) -> None:
    with pytest.raises(ValueError, match="tenant id"):
        validate_tenant_ref(value)


@pytest.mark.parametrize("client_id", ["", "app", "11111111222233334444555555555555"])
def test_client_id_must_be_a_guid(client_id) -> None:
    with pytest.raises(ValueError, match="client id"):
        ClientSecretCredential(client_id, SecretStr(SECRET))


@pytest.mark.parametrize("secret", ["", "   ", SecretStr("")])
def test_empty_secret_is_rejected(secret) -> None:
    with pytest.raises(ValueError, match="secret"):
        ClientSecretCredential(CLIENT_ID, secret)


@pytest.mark.parametrize("thumbprint", ["", "xyz", "AB" * 19, "G" * 40])
def test_bad_thumbprint_is_rejected(thumbprint) -> None:
    with pytest.raises(ValueError, match="thumbprint"):
        CertificateCredential(CLIENT_ID, SecretStr(PEM), thumbprint)


def test_certificate_needs_a_pem_key_and_normalises_the_thumbprint() -> None:
    with pytest.raises(ValueError, match="PEM"):
        CertificateCredential(CLIENT_ID, SecretStr("not pem"), "ab" * 20)
    cred = CertificateCredential(CLIENT_ID, SecretStr(PEM), ":".join(["ab"] * 20))
    assert cred.thumbprint == "AB" * 20
    assert cred.msal_credential() == {"private_key": PEM, "thumbprint": "AB" * 20}
    sha256 = CertificateCredential(CLIENT_ID, SecretStr(PEM), "cd" * 32, public_certificate_pem="CERT")
    assert sha256.msal_credential() == {
        "private_key": PEM,
        "thumbprint_sha256": "CD" * 32,
        "public_certificate": "CERT",
    }


def test_secrets_are_absent_from_credential_and_provider_reprs() -> None:
    secret_cred = ClientSecretCredential(CLIENT_ID, SECRET)  # a plain str is wrapped
    cert_cred = CertificateCredential(CLIENT_ID, SecretStr(PEM), "ab" * 20)
    provider = TokenProvider("contoso.com", secret_cred, endpoints_for("global"))
    for obj in (secret_cred, cert_cred, provider, MsalAuth(provider, "https://graph.microsoft.com")):
        assert SECRET not in repr(obj) and SECRET not in str(obj)
        assert "MIIEvQ" not in repr(obj)
    assert isinstance(secret_cred.secret, SecretStr)


def test_bad_input_to_build_graph_client_fails_before_any_request() -> None:
    cred = ClientSecretCredential(CLIENT_ID, SecretStr(SECRET))
    with pytest.raises(ValueError):
        build_graph_client(
            "not a tenant", cred, endpoints_for("global"), transport=httpx.MockTransport(never_called)
        )


def test_msal_http_client_ignores_environment_and_verifies_with_the_ca_file() -> None:
    provider = TokenProvider(
        "contoso.com",
        ClientSecretCredential(CLIENT_ID, SECRET),
        endpoints_for("global"),
        ca_file="sandbox-ca.pem",
    )
    session = provider._http_client()
    assert session.trust_env is False and session.verify == "sandbox-ca.pem"


# -- msal result mapping (fake msal application) ------------------------------------------------
class FakeApp:
    def __init__(self, *results: dict[str, Any]) -> None:
        self.results = list(results)
        self.scopes: list[list[str]] = []
        self.token_cache = None

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        self.scopes.append(scopes)
        return self.results.pop(0)


def provider_with(app: FakeApp, tenant: str | None = None) -> TokenProvider:
    provider = TokenProvider(
        tenant or f"t{id(app)}.example.com",
        ClientSecretCredential(CLIENT_ID, SECRET),
        endpoints_for("usgov-gcchigh"),
    )
    provider._slot.app = app
    return provider


def test_token_requests_the_resource_default_scope() -> None:
    app = FakeApp({"access_token": "tok-1"})
    assert provider_with(app).token("https://outlook.office365.us") == "tok-1"
    assert app.scopes == [["https://outlook.office365.us/.default"]]


@pytest.mark.parametrize(
    ("result", "cls"),
    [
        (
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215],
            },
            AuthenticationError,
        ),
        (
            {
                "error": "invalid_grant",
                "error_description": "AADSTS65001: The user or administrator has not consented",
                "error_codes": [65001],
            },
            ConsentMissing,
        ),
        (
            {
                "error": "unauthorized_client",
                "error_description": "AADSTS7000229: The client application is missing "
                "service principal in the tenant",
            },
            ConsentMissing,
        ),
        (
            {"error": "invalid_request", "error_description": "AADSTS650051: ...", "error_codes": [650051]},
            ConsentMissing,
        ),
        (
            {
                "error": "invalid_resource",
                "error_description": "AADSTS500011: The resource principal named "
                "https://outlook.office365.com was not found",
                "error_codes": [500011],
            },
            ConsentMissing,
        ),
    ],
)
def test_msal_error_dicts_map_to_authentication_errors(result, cls) -> None:
    with pytest.raises(AuthenticationError) as info:
        provider_with(FakeApp(result)).token("https://graph.microsoft.us")
    assert type(info.value) is cls
    assert info.value.code == result["error"]
    assert result["error_description"][:12] in str(info.value)


def test_secret_echoed_by_the_identity_provider_is_redacted() -> None:
    result = {"error": "invalid_client", "error_description": f"bad secret {SECRET} given"}
    with pytest.raises(AuthenticationError) as info:
        provider_with(FakeApp(result)).token("https://graph.microsoft.us")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


# -- the real msal against a fake identity provider (its http_client) ------------------------------
class FakeIdpResponse:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code = status
        self.text = json.dumps(body)
        self.headers: dict[str, str] = {"content-type": "application/json"}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(self.status_code)


class FakeIdp:
    """What msal's http_client sees: an OIDC discovery document and a token endpoint."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.issued = 0
        self.token_posts: list[dict[str, Any]] = []

    def get(self, url: str, **kw: Any) -> FakeIdpResponse:
        assert url.endswith("/v2.0/.well-known/openid-configuration"), url
        tenant = url.split("/")[3]
        return FakeIdpResponse(
            200,
            {
                "issuer": f"{self.base}/{tenant}/v2.0",
                "authorization_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/authorize",
                "token_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/token",
            },
        )

    def post(self, url: str, data: Any = None, **kw: Any) -> FakeIdpResponse:
        form = data if isinstance(data, dict) else {k: v[0] for k, v in parse_qs(data).items()}
        self.token_posts.append(form)
        if form.get("client_secret") == "wrong":
            return FakeIdpResponse(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                },
            )
        self.issued += 1
        return FakeIdpResponse(
            200, {"access_token": f"token-{self.issued}", "token_type": "Bearer", "expires_in": 3600}
        )

    def close(self) -> None:
        pass


def real_msal_provider(idp: FakeIdp, secret: str = SECRET) -> TokenProvider:
    endpoints = endpoints_for("global", login_url=idp.base)
    provider = TokenProvider(fresh_tenant(), ClientSecretCredential(CLIENT_ID, secret), endpoints)
    provider._http_client = lambda: idp  # type: ignore[method-assign]
    return provider


def test_real_msal_caches_per_resource_and_force_refresh_gets_a_new_token() -> None:
    idp = FakeIdp("https://localhost:9444")
    provider = real_msal_provider(idp)
    graph = provider.token("https://graph.microsoft.com")
    assert provider.token("https://graph.microsoft.com") == graph  # from msal's cache
    exchange = provider.token("https://outlook.office365.com")
    assert exchange != graph  # a separate token per resource
    assert provider.token("https://graph.microsoft.com", force_refresh=True) not in (graph, exchange)
    assert idp.issued == 3


def test_real_msal_wrong_secret_is_an_authentication_error_without_the_secret() -> None:
    idp = FakeIdp("https://localhost:9444")
    with pytest.raises(AuthenticationError) as info:
        real_msal_provider(idp, secret="wrong").token("https://graph.microsoft.com")
    assert info.value.code == "invalid_client" and "AADSTS7000215" in str(info.value)


# -- MsalAuth: one refresh on 401 ---------------------------------------------------------------
class FakeProvider:
    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.calls: list[tuple[str, bool]] = []

    def token(self, resource: str, *, force_refresh: bool = False) -> str:
        self.calls.append((resource, force_refresh))
        return self.tokens.pop(0)


def test_401_refreshes_the_token_once_and_retries() -> None:
    provider = FakeProvider("expired", "fresh")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer fresh":
            return reply(200, {"id": "u"})
        return graph_error(401, "InvalidAuthenticationToken", "Access token has expired")

    client = make_client(handler, auth=MsalAuth(provider, "https://graph.microsoft.com"))  # type: ignore[arg-type]
    assert client.get("/users/u") == {"id": "u"}
    assert provider.calls == [("https://graph.microsoft.com", False), ("https://graph.microsoft.com", True)]
    assert seen == ["Bearer expired", "Bearer fresh"]


def test_a_second_401_surfaces_as_an_error_without_the_token() -> None:
    provider = FakeProvider("bad-token-1", "bad-token-2")
    rec = Recorder(lambda r: graph_error(401, "InvalidAuthenticationToken", "rejected", request_id="r1"))
    client = make_client(rec, auth=MsalAuth(provider, "https://graph.microsoft.com"))  # type: ignore[arg-type]
    with pytest.raises(GraphStatusError) as info:
        client.get("/users/u")
    assert info.value.status == 401 and info.value.request_id == "r1"
    assert len(rec.requests) == 2 and len(provider.calls) == 2
    assert "bad-token" not in str(info.value) and "bad-token" not in repr(info.value)


def test_authentication_error_from_the_provider_propagates_before_sending() -> None:
    class Refusing:
        def token(self, resource: str, *, force_refresh: bool = False) -> str:
            raise ConsentMissing("invalid_grant", "AADSTS65001: not consented")

    client = make_client(never_called, auth=MsalAuth(Refusing(), "https://graph.microsoft.com"))  # type: ignore[arg-type]
    with pytest.raises(ConsentMissing):
        client.get("/users")
