"""Identity: OIDC discovery, JWKS, the v2.0 token endpoint (client credentials) and admin consent.

Errors follow Azure AD's shape: ``{"error", "error_description": "AADSTSnnn: ...",
"error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from m365sandbox.core import Sandbox
from m365sandbox.state import TenantState

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def aad_error(status: int, error: str, code: int, text: str) -> JSONResponse:
    """An Azure AD token-endpoint error body."""
    now = datetime.now(UTC)
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    return JSONResponse(status_code=status, content={
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} "
                             f"Timestamp: {stamp}",
        "error_codes": [code], "timestamp": stamp, "trace_id": trace, "correlation_id": corr,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}"})


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def resource_of(scope: str, tenant: TenantState) -> str | None:
    """The resource a ``{resource}/.default`` scope names, if this tenant's cloud has it."""
    res = scope[: -len("/.default")].rstrip("/")
    aliases = {GRAPH_APP_ID: tenant.graph_resource, EXCHANGE_APP_ID: tenant.exchange_resource}
    res = aliases.get(res, res)
    return res if res in (tenant.graph_resource, tenant.exchange_resource) else None


def build_identity_router(sb: Sandbox) -> APIRouter:
    """Routes under ``/{tenant}/...``."""
    r = APIRouter()

    @r.get("/{tenant}/v2.0/.well-known/openid-configuration")
    def discovery(tenant: str, request: Request) -> Response:
        t = sb.find_tenant(tenant)
        if t is None:
            return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make "
                             "sure you have the correct tenant ID and are signing into the correct cloud.")
        base = _base(request)
        return JSONResponse({
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{base}/{t.id}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{t.id}/v2.0",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "tenant_region_scope": "NA", "cloud_instance_name": "microsoftonline.com",
        })

    @r.get("/{tenant}/discovery/v2.0/keys")
    @r.get("/{tenant}/discovery/keys")
    def keys(tenant: str) -> Response:
        return JSONResponse({"keys": [sb.signing_key.jwk()]})

    @r.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        return issue_token(sb, tenant, form,
                           f"{_base(request)}/{tenant}/oauth2/v2.0/token")

    @r.get("/{tenant}/adminconsent")
    @r.get("/{tenant}/v2.0/adminconsent")
    def adminconsent(tenant: str, request: Request) -> Response:
        return admin_consent(sb, tenant, dict(request.query_params))

    return r


def _missing(name: str) -> JSONResponse:
    return aad_error(400, "invalid_request", 900144,
                     f"The request body must contain the following parameter: '{name}'.")


def issue_token(sb: Sandbox, tenant_ref: str, form: dict[str, str], token_url: str) -> Response:
    """The client-credentials grant."""
    t = sb.find_tenant(tenant_ref)
    if t is None:
        return aad_error(400, "invalid_request", 90002, f"Tenant '{tenant_ref}' not found. Check to "
                         "make sure you have the correct tenant ID and are signing into the correct "
                         "cloud. Check with your subscription administrator, this may happen if there "
                         "are no active subscriptions for the tenant.")
    for name in ("grant_type", "client_id", "scope"):
        if not form.get(name):
            return _missing(name)
    if form["grant_type"] != "client_credentials":
        return aad_error(400, "unsupported_grant_type", 70003,
                         "The app requested an unsupported grant type.")
    client_id = form["client_id"]
    app = sb.apps.get(client_id)
    if app is None:
        return aad_error(400, "unauthorized_client", 700016, f"Application with identifier "
                         f"'{client_id}' was not found in the directory '{t.display_name}'. This can "
                         "happen if the application has not been installed by the administrator of "
                         "the tenant or consented to by any user in the tenant. You may have sent "
                         "your authentication request to the wrong tenant.")
    appidacr = "1"
    if form.get("client_assertion"):
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return aad_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        err = _check_assertion(sb, app, form["client_assertion"], client_id, token_url)
        if err is not None:
            return err
        appidacr = "2"
    elif form.get("client_secret"):
        if not app.check_secret(form["client_secret"]):
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure "
                             "the secret being sent in the request is the client secret value, not the "
                             f"client secret ID, for a secret added to app '{client_id}'.")
    else:
        return aad_error(401, "invalid_client", 7000218, "The request body must contain the following "
                         "parameter: 'client_assertion' or 'client_secret'.")
    scopes = form["scope"].split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        return aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {form['scope']} "
                         "is not valid. Client credential flows must have a scope value with /.default "
                         "suffixed to the resource identifier (application ID URI).")
    resource = resource_of(scopes[0], t)
    if resource is None:
        name = scopes[0][: -len("/.default")]
        return aad_error(400, "invalid_resource", 500011, f"The resource principal named {name} was "
                         f"not found in the tenant named {t.display_name}. This can happen if the "
                         "application has not been installed by the administrator of the tenant or "
                         "consented to by any user in the tenant. You might have sent your "
                         "authentication request to the wrong tenant.")
    with t.lock:
        consent = t.consents.get(client_id)
    if consent is None:
        return aad_error(400, "invalid_client", 7000229, f"The client application {client_id} is "
                         f"missing service principal in the tenant {t.id}. See instructions here: "
                         "https://go.microsoft.com/fwlink/?linkid=2225119")
    now = int(sb.clock())
    lifetime = sb.token_lifetime
    uti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {
        "aud": resource, "iss": f"https://sts.windows.net/{t.id}/", "iat": now, "nbf": now,
        "exp": now + lifetime, "aio": secrets.token_urlsafe(12), "app_displayname": app.display_name,
        "appid": client_id, "appidacr": appidacr, "idp": f"https://sts.windows.net/{t.id}/",
        "idtyp": "app", "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{t.id}/{client_id}")),
        "roles": sorted(consent.roles), "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp/{client_id}")),
        "tid": t.id, "uti": uti, "ver": "1.0"}
    access = jwt.encode(claims, sb.signing_key.private_pem, algorithm="RS256",
                        headers={"kid": sb.signing_key.kid, "x5t": sb.signing_key.kid, "typ": "JWT"})
    with t.lock:
        t.issued_tokens.add(uti)
    return JSONResponse({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                         "access_token": access})


def _check_assertion(sb: Sandbox, app: Any, assertion: str, client_id: str,
                     token_url: str) -> JSONResponse | None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return aad_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
    cert = app.certificate_for(header)
    if cert is None:
        return aad_error(401, "invalid_client", 700027, "The certificate with identifier used to sign "
                         "the client assertion is not registered on application. "
                         f"[Reason - The key was not found., Thumbprint of key used by client: "
                         f"'{header.get('x5t', '')}']")
    try:
        claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                            audience=None, options={"verify_aud": False, "verify_exp": False,
                                                    "verify_nbf": False, "verify_iat": False})
    except jwt.PyJWTError:
        return aad_error(401, "invalid_client", 700027, "Client assertion failed signature validation.")
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return aad_error(401, "invalid_client", 700021, "Client assertion application identifier "
                         "doesn't match 'client_id' parameter.")
    if _norm(claims.get("aud")) != _norm(token_url):
        return aad_error(401, "invalid_client", 700212, "No matching federated identity record found "
                         "for presented assertion audience.")
    now = time.time()  # the client signs with its own wall clock, not the sandbox's test clock
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 300 \
            or claims.get("nbf", 0) > now + 300:
        return aad_error(401, "invalid_client", 700024, "Client assertion is not within its valid "
                         "time range.")
    return None


def _norm(url: Any) -> str:
    if not isinstance(url, str):
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}".lower()


def admin_consent(sb: Sandbox, tenant_ref: str, q: dict[str, str]) -> Response:
    """``/adminconsent``: redirect with ``admin_consent=True`` or an error; see module docs."""
    client_id, redirect_uri, state = q.get("client_id", ""), q.get("redirect_uri", ""), q.get("state", "")
    app = sb.apps.get(client_id)
    if app is None:
        return _error_page(400, 700016, f"Application with identifier '{client_id}' was not found.")
    if redirect_uri not in app.redirect_uris:
        return _error_page(400, 50011, f"The redirect URI '{redirect_uri}' specified in the request "
                           f"does not match the redirect URIs configured for the application "
                           f"'{client_id}'.")
    t = sb.find_tenant(tenant_ref)
    if t is None:
        return _error_page(400, 90002, f"Tenant '{tenant_ref}' not found.")
    sep = "&" if "?" in redirect_uri else "?"
    with t.lock:
        denied = t.deny_consent
    if denied is not None:
        return RedirectResponse(redirect_uri + sep + urlencode(
            {"error": "access_denied", "error_description": denied, "state": state}), status_code=302)
    tier = q.get("sandbox_tier") or q.get("mailwarden_tier") or "basic"
    if tier not in app.tiers:
        return RedirectResponse(redirect_uri + sep + urlencode(
            {"error": "invalid_request", "error_description": f"Unknown permission tier '{tier}'.",
             "state": state}), status_code=302)
    with t.lock:
        sb.grant_consent(t.id, client_id, tier, propagation_seconds=t.consent_propagation_seconds)
    return RedirectResponse(redirect_uri + sep + urlencode(
        {"admin_consent": "True", "tenant": t.id, "state": state}), status_code=302)


def _error_page(status: int, code: int, text: str) -> HTMLResponse:
    body = (f"<html><head><title>Sign in to your account</title></head><body><h1>Sorry, but we're "
            f"having trouble signing you in.</h1><p>AADSTS{code}: {text}</p></body></html>")
    return HTMLResponse(body, status_code=status)


class TokenRejected(Exception):
    """An access token the API refuses (401 InvalidAuthenticationToken)."""


def validate_access_token(sb: Sandbox, authorization: str | None, audience_kind: str) \
        -> tuple[TenantState, dict[str, Any]]:
    """Check signature, expiry, revocation, tenant and audience (``graph``/``exchange``)."""
    if not authorization:
        raise TokenRejected("Access token is empty.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise TokenRejected("Access token is empty.")
    try:
        claims = jwt.decode(token, sb.signing_key.private_key.public_key(), algorithms=["RS256"],
                            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                     "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise TokenRejected("IDX14100: JWT is not well formed.") from exc
    t = sb.tenants.get(str(claims.get("tid")))
    if t is None:
        raise TokenRejected("Access token validation failure. Invalid tenant.")
    if claims.get("exp", 0) <= sb.clock():
        raise TokenRejected("Lifetime validation failed, the token is expired.")
    with t.lock:
        revoked = claims.get("uti") in t.revoked_tokens
    if revoked:
        raise TokenRejected("Lifetime validation failed, the token is expired.")
    expected = t.graph_resource if audience_kind == "graph" else t.exchange_resource
    if claims.get("aud") != expected:
        raise TokenRejected("Access token validation failure. Invalid audience.")
    return t, claims
