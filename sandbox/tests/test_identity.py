"""Identity: msal over TLS, Azure AD error shapes, admin consent, propagation, token checks."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import msal
import pytest
import requests

from m365sandbox import Sandbox, SandboxServer
from tests.conftest import CLIENT_ID, REDIRECT, SECRET, TENANT_A, TENANT_B, ClientCert, get_token

GRAPH = "https://graph.microsoft.com/.default"


def _msal(server: SandboxServer, tenant: str, credential: object) -> msal.ConfidentialClientApplication:
    session = requests.Session()
    session.trust_env = False
    session.verify = server.ca_file
    return msal.ConfidentialClientApplication(CLIENT_ID, client_credential=credential,
                                              authority=f"{server.url}/{tenant}",
                                              instance_discovery=False, http_client=session)


def _claims(token: str) -> dict:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def test_msal_gets_token_with_client_secret(sb: Sandbox, server: SandboxServer) -> None:
    result = _msal(server, TENANT_A, SECRET).acquire_token_for_client(scopes=[GRAPH])
    claims = _claims(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == TENANT_A and claims["appid"] == CLIENT_ID
    assert "User.ReadWrite.All" in claims["roles"]  # tenant A consented the advanced tier
    assert 3500 < claims["exp"] - claims["iat"] <= 3600


def test_token_names_the_registered_app(sb: Sandbox, server: SandboxServer) -> None:
    assert _claims(get_token(server, TENANT_A).json()["access_token"])["app_displayname"] == "m365-sandbox app"
    sb.register_app(CLIENT_ID, display_name="Contoso Mail Audit")
    try:
        claims = _claims(get_token(server, TENANT_A).json()["access_token"])
    finally:
        sb.register_app(CLIENT_ID, display_name="m365-sandbox app")
    assert claims["app_displayname"] == "Contoso Mail Audit"


def test_msal_gets_token_with_certificate_by_domain_authority(sb: Sandbox, server: SandboxServer,
                                                              client_cert: ClientCert) -> None:
    cred = {"private_key": client_cert.key_pem, "thumbprint": client_cert.thumbprint}
    result = _msal(server, "fabrikam.example", cred).acquire_token_for_client(
        scopes=["https://outlook.office365.com/.default"])
    claims = _claims(result["access_token"])
    assert claims["tid"] == TENANT_B and claims["aud"] == "https://outlook.office365.com"
    assert claims["appidacr"] == "2"
    assert "User.ReadWrite.All" not in claims["roles"]  # basic tier only


def test_msal_wrong_secret_gets_aadsts7000215(sb: Sandbox, server: SandboxServer) -> None:
    result = _msal(server, TENANT_A, "not-the-secret").acquire_token_for_client(scopes=[GRAPH])
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert result["error_codes"] == [7000215]
    assert "not-the-secret" not in str(result)


def test_msal_wrong_tenant_fails_with_tenant_not_found(sb: Sandbox, server: SandboxServer) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        _msal(server, "nosuch.example", SECRET).acquire_token_for_client(scopes=[GRAPH])
    resp = get_token(server, "nosuch.example")
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "invalid_request" and body["error_codes"] == [90002]
    assert "Tenant 'nosuch.example' not found" in body["error_description"]
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


def test_certificate_with_unregistered_thumbprint_is_refused(sb: Sandbox, server: SandboxServer) -> None:
    from tests.conftest import make_client_cert

    other = make_client_cert()
    result = _msal(server, TENANT_A, {"private_key": other.key_pem, "thumbprint": other.thumbprint}) \
        .acquire_token_for_client(scopes=[GRAPH])
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]


def test_token_endpoint_errors_for_unknown_app_resource_and_missing_consent(sb: Sandbox,
                                                                            server: SandboxServer) -> None:
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        r = c.post(f"{server.url}/{TENANT_A}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": "99999999-0000-0000-0000-000000000000",
            "client_secret": "x", "scope": GRAPH})
        assert r.status_code == 400 and r.json()["error_codes"] == [700016]
    wrong_cloud = get_token(server, TENANT_A, "https://graph.microsoft.us")
    assert wrong_cloud.status_code == 400 and wrong_cloud.json()["error_codes"] == [500011]
    sb.revoke_consent(TENANT_A, CLIENT_ID)
    r = get_token(server, TENANT_A)
    assert r.status_code == 400 and r.json()["error_codes"] == [7000229]


def test_gcc_high_tenant_only_accepts_its_own_resources(sb: Sandbox, server: SandboxServer) -> None:
    from dataclasses import replace

    from tests.conftest import make_seed

    seed = replace(make_seed("cccccccc-0000-4000-8000-00000000000c", "gcch.example"), cloud="usgov-gcchigh")
    t = sb.add_tenant(seed)
    sb.grant_consent(t.id, CLIENT_ID, "basic")
    assert get_token(server, t.id, "https://graph.microsoft.com").status_code == 400
    ok = get_token(server, t.id, "https://graph.microsoft.us")
    assert ok.status_code == 200
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        users = c.get(f"{server.url}/v1.0/users",
                      headers={"Authorization": f"Bearer {ok.json()['access_token']}"}).json()
    assert users["@odata.context"] == "https://graph.microsoft.us/v1.0/$metadata#users"


def test_discovery_document_is_https_with_tenant_substituted(sb: Sandbox, server: SandboxServer) -> None:
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        doc = c.get(f"{server.url}/contoso.example/v2.0/.well-known/openid-configuration").json()
        keys = c.get(doc["jwks_uri"]).json()
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert doc[key].startswith("https://127.0.0.1:")
    assert doc["token_endpoint"].endswith("/contoso.example/oauth2/v2.0/token")
    assert TENANT_A in doc["issuer"]
    assert keys["keys"][0]["kty"] == "RSA"


def _consent(server: SandboxServer, tenant: str, **extra: str) -> httpx.Response:
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        return c.get(f"{server.url}/{tenant}/v2.0/adminconsent", params={
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "state": "xyz", "scope": GRAPH, **extra})


@pytest.mark.parametrize("parameter", ["sandbox_tier", "mailwarden_tier"])
def test_admin_consent_redirects_and_grants_the_requested_tier(sb: Sandbox, server: SandboxServer,
                                                               parameter: str) -> None:
    sb.revoke_consent(TENANT_B)
    resp = _consent(server, "fabrikam.example", **{parameter: "advanced"})
    assert resp.status_code == 302
    loc = urlsplit(resp.headers["location"])
    q = parse_qs(loc.query)
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == REDIRECT
    assert q == {"admin_consent": ["True"], "tenant": [TENANT_B], "state": ["xyz"]}
    token = get_token(server, TENANT_B).json()["access_token"]
    assert "User.ReadWrite.All" in _claims(token)["roles"]


def test_admin_consent_rejects_unregistered_redirect_uri(sb: Sandbox, server: SandboxServer) -> None:
    resp = _consent(server, TENANT_B, redirect_uri="https://evil.example/cb")
    assert resp.status_code == 400 and "AADSTS50011" in resp.text


def test_admin_consent_denied_by_switch(sb: Sandbox, server: SandboxServer) -> None:
    sb.deny_consent(TENANT_B)
    q = parse_qs(urlsplit(_consent(server, TENANT_B).headers["location"]).query)
    assert q["error"] == ["access_denied"] and q["state"] == ["xyz"]
    assert "admin_consent" not in q


def test_consent_propagation_gives_403_until_the_clock_passes(sb: Sandbox, server: SandboxServer) -> None:
    sb.revoke_consent(TENANT_B)
    sb.set_consent_propagation(TENANT_B, 90)
    assert _consent(server, TENANT_B).status_code == 302
    token = get_token(server, TENANT_B).json()["access_token"]
    with httpx.Client(verify=server.ca_file, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        early = c.get(f"{server.url}/v1.0/users")
        assert early.status_code == 403
        assert early.json()["error"]["code"] == "Authorization_RequestDenied"
        sb.clock.advance(91)  # type: ignore[attr-defined]
        assert c.get(f"{server.url}/v1.0/users").status_code == 200


def test_expired_and_foreign_tokens_are_refused(sb: Sandbox, server: SandboxServer) -> None:
    token = get_token(server, TENANT_A).json()["access_token"]
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        url = f"{server.url}/v1.0/users"
        assert c.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        sb.clock.advance(3601)  # type: ignore[attr-defined]
        r = c.get(url, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert r.headers["request-id"] == r.json()["error"]["innerError"]["request-id"]
        assert c.get(url).status_code == 401
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert c.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
