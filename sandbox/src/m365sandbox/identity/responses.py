"""Identity handlers: OIDC discovery, JWKS, the v2.0 token endpoint and admin consent.

Token-endpoint errors follow Azure AD's shape: ``{"error", "error_description": "AADSTSnnn: ...",
"error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}``; consent errors that
Azure shows as a page are an HTML page with the AADSTS text.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from m365sandbox.core import Sandbox
from m365sandbox.identity import models
from m365sandbox.identity.models import AadError, ConsentPageError


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


def _error_page(status: int, code: int, text: str) -> HTMLResponse:
    body = (f"<html><head><title>Sign in to your account</title></head><body><h1>Sorry, but we're "
            f"having trouble signing you in.</h1><p>AADSTS{code}: {text}</p></body></html>")
    return HTMLResponse(body, status_code=status)


def _sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def issue_token(sb: Sandbox, tenant_ref: str, form: dict[str, str], token_url: str) -> Response:
    """The client-credentials grant as the token endpoint answers it."""
    try:
        token = models.issue(sb, tenant_ref, form, token_url)
    except AadError as exc:
        return aad_error(exc.status, exc.error, exc.code, exc.text)
    return JSONResponse({"token_type": "Bearer", "expires_in": token.expires_in,
                         "ext_expires_in": token.expires_in, "access_token": token.access_token})


def discovery(tenant: str, request: Request) -> Response:
    t = _sandbox(request).find_tenant(tenant)
    if t is None:
        return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make "
                         "sure you have the correct tenant ID and are signing into the correct cloud.")
    base = _base(request)
    return JSONResponse({
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
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


def keys(tenant: str, request: Request) -> Response:
    return JSONResponse({"keys": [_sandbox(request).signing_key.jwk()]})


async def token(tenant: str, request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    return issue_token(_sandbox(request), tenant, form, f"{_base(request)}/{tenant}/oauth2/v2.0/token")


def adminconsent(tenant: str, request: Request) -> Response:
    try:
        location = models.admin_consent(_sandbox(request), tenant, dict(request.query_params))
    except ConsentPageError as exc:
        return _error_page(exc.status, exc.code, exc.text)
    return RedirectResponse(location, status_code=302)
