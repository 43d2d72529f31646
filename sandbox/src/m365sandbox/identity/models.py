"""Entra ID's behaviour, without HTTP: the client-credentials grant, client assertions, admin
consent and access-token validation over a :class:`~m365sandbox.core.Sandbox`.

A refused token request is :class:`AadError` (status, OAuth ``error``, the ``AADSTS`` number and
its text, as Azure AD words them); a refused consent is :class:`ConsentPageError` (Azure shows an
error page) or a redirect carrying ``error``; an access token an API refuses is
:class:`TokenRejected`.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from m365sandbox.core import AppRegistration, Sandbox
from m365sandbox.state import TenantState

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class AadError(Exception):
    """A token-endpoint refusal: HTTP status, OAuth error, AADSTS code and text."""

    def __init__(self, status: int, error: str, code: int, text: str) -> None:
        super().__init__(f"AADSTS{code}: {text}")
        self.status, self.error, self.code, self.text = status, error, code, text


class ConsentPageError(Exception):
    """A consent request Azure answers with an error page, not a redirect."""

    def __init__(self, status: int, code: int, text: str) -> None:
        super().__init__(f"AADSTS{code}: {text}")
        self.status, self.code, self.text = status, code, text


class TokenRejected(Exception):
    """An access token the API refuses (401 InvalidAuthenticationToken)."""


@dataclass
class IssuedToken:
    access_token: str
    expires_in: int


def resource_of(scope: str, tenant: TenantState) -> str | None:
    """The resource a ``{resource}/.default`` scope names, if this tenant's cloud has it."""
    res = scope[: -len("/.default")].rstrip("/")
    aliases = {GRAPH_APP_ID: tenant.graph_resource, EXCHANGE_APP_ID: tenant.exchange_resource}
    res = aliases.get(res, res)
    return res if res in (tenant.graph_resource, tenant.exchange_resource) else None


def _missing(name: str) -> AadError:
    return AadError(400, "invalid_request", 900144,
                    f"The request body must contain the following parameter: '{name}'.")


def issue(sb: Sandbox, tenant_ref: str, form: dict[str, str], token_url: str) -> IssuedToken:
    """The client-credentials grant: check the client, its credential, the scope and consent."""
    t = sb.find_tenant(tenant_ref)
    if t is None:
        raise AadError(400, "invalid_request", 90002, f"Tenant '{tenant_ref}' not found. Check to "
                       "make sure you have the correct tenant ID and are signing into the correct "
                       "cloud. Check with your subscription administrator, this may happen if there "
                       "are no active subscriptions for the tenant.")
    for name in ("grant_type", "client_id", "scope"):
        if not form.get(name):
            raise _missing(name)
    if form["grant_type"] != "client_credentials":
        raise AadError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    client_id = form["client_id"]
    app = sb.apps.get(client_id)
    if app is None:
        raise AadError(400, "unauthorized_client", 700016, f"Application with identifier "
                       f"'{client_id}' was not found in the directory '{t.display_name}'. This can "
                       "happen if the application has not been installed by the administrator of "
                       "the tenant or consented to by any user in the tenant. You may have sent "
                       "your authentication request to the wrong tenant.")
    appidacr = _authenticate(app, form, client_id, token_url)
    scopes = form["scope"].split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise AadError(400, "invalid_scope", 1002012, f"The provided value for scope {form['scope']} "
                       "is not valid. Client credential flows must have a scope value with /.default "
                       "suffixed to the resource identifier (application ID URI).")
    resource = resource_of(scopes[0], t)
    if resource is None:
        name = scopes[0][: -len("/.default")]
        raise AadError(400, "invalid_resource", 500011, f"The resource principal named {name} was "
                       f"not found in the tenant named {t.display_name}. This can happen if the "
                       "application has not been installed by the administrator of the tenant or "
                       "consented to by any user in the tenant. You might have sent your "
                       "authentication request to the wrong tenant.")
    with t.lock:
        consent = t.consents.get(client_id)
    if consent is None:
        raise AadError(400, "invalid_client", 7000229, f"The client application {client_id} is "
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
    return IssuedToken(access, lifetime)


def _authenticate(app: AppRegistration, form: dict[str, str], client_id: str, token_url: str) -> str:
    """``appidacr``: ``2`` for a certificate (client assertion), ``1`` for a secret."""
    if form.get("client_assertion"):
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise AadError(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        check_assertion(app, form["client_assertion"], client_id, token_url)
        return "2"
    if form.get("client_secret"):
        if not app.check_secret(form["client_secret"]):
            raise AadError(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure "
                           "the secret being sent in the request is the client secret value, not the "
                           f"client secret ID, for a secret added to app '{client_id}'.")
        return "1"
    raise AadError(401, "invalid_client", 7000218, "The request body must contain the following "
                   "parameter: 'client_assertion' or 'client_secret'.")


def check_assertion(app: AppRegistration, assertion: str, client_id: str, token_url: str) -> None:
    """A client assertion signed by a registered certificate, for this client and token URL."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise AadError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from exc
    cert = app.certificate_for(header)
    if cert is None:
        raise AadError(401, "invalid_client", 700027, "The certificate with identifier used to sign "
                       "the client assertion is not registered on application. "
                       f"[Reason - The key was not found., Thumbprint of key used by client: "
                       f"'{header.get('x5t', '')}']")
    key = cert.public_key()
    if not isinstance(key, RSAPublicKey):
        raise AadError(401, "invalid_client", 700027, "Client assertion failed signature validation.")
    try:
        claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"], audience=None,
                            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                     "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise AadError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from exc
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AadError(401, "invalid_client", 700021, "Client assertion application identifier "
                       "doesn't match 'client_id' parameter.")
    if _norm(claims.get("aud")) != _norm(token_url):
        raise AadError(401, "invalid_client", 700212, "No matching federated identity record found "
                       "for presented assertion audience.")
    now = time.time()  # the client signs with its own wall clock, not the sandbox's test clock
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 300 \
            or claims.get("nbf", 0) > now + 300:
        raise AadError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")


def _norm(url: Any) -> str:
    if not isinstance(url, str):
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}".lower()


def admin_consent(sb: Sandbox, tenant_ref: str, q: dict[str, str]) -> str:
    """``/adminconsent``: grant the requested tier and return the redirect URL (with
    ``admin_consent=True``, or with ``error`` when the admin or the request says no); raise
    :class:`ConsentPageError` when Azure would show an error page instead.

    The tier comes from ``sandbox_tier`` (or ``mailwarden_tier``, which existing clients send);
    real Azure AD ignores unknown parameters, so the same URL works against both.
    """
    client_id, redirect_uri, state = q.get("client_id", ""), q.get("redirect_uri", ""), q.get("state", "")
    app = sb.apps.get(client_id)
    if app is None:
        raise ConsentPageError(400, 700016, f"Application with identifier '{client_id}' was not found.")
    if redirect_uri not in app.redirect_uris:
        raise ConsentPageError(400, 50011, f"The redirect URI '{redirect_uri}' specified in the request "
                               f"does not match the redirect URIs configured for the application "
                               f"'{client_id}'.")
    t = sb.find_tenant(tenant_ref)
    if t is None:
        raise ConsentPageError(400, 90002, f"Tenant '{tenant_ref}' not found.")
    sep = "&" if "?" in redirect_uri else "?"
    with t.lock:
        denied = t.deny_consent
    if denied is not None:
        return redirect_uri + sep + urlencode({"error": "access_denied", "error_description": denied,
                                               "state": state})
    tier = q.get("sandbox_tier") or q.get("mailwarden_tier") or "basic"
    if tier not in app.tiers:
        return redirect_uri + sep + urlencode({"error": "invalid_request",
                                               "error_description": f"Unknown permission tier '{tier}'.",
                                               "state": state})
    with t.lock:
        sb.grant_consent(t.id, client_id, tier, propagation_seconds=t.consent_propagation_seconds)
    return redirect_uri + sep + urlencode({"admin_consent": "True", "tenant": t.id, "state": state})


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
