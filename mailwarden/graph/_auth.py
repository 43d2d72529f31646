"""App-only credentials, msal token acquisition per tenant, and the ``httpx.Auth`` that uses it."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import msal
import requests
from pydantic import SecretStr

from mailwarden.graph._clouds import CloudEndpoints
from mailwarden.graph._errors import AuthenticationError, ConsentMissing, GraphTransportError

__all__ = [
    "CertificateCredential",
    "ClientSecretCredential",
    "Credential",
    "MsalAuth",
    "TokenProvider",
    "cached_token_tenants",
    "drop_token_caches",
    "validate_client_id",
    "validate_tenant_ref",
]

log = logging.getLogger(__name__)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_THUMBPRINT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# Login hosts msal knows; any other (a local identity provider) is used without instance discovery.
_MICROSOFT_LOGIN_HOSTS = frozenset({
    "login.microsoftonline.com", "login.microsoft.com", "login.microsoftonline.us",
    "login.partner.microsoftonline.cn", "login.chinacloudapi.cn",
})
# AADSTS codes that mean "the app has no (usable) grant in this tenant yet".
_CONSENT_CODES = frozenset({65001, 7000229, 650051, 500011, 700016})


def validate_tenant_ref(value: str) -> str:
    """Return ``value`` (stripped, lower-cased) if it is a GUID or a DNS domain, else raise ``ValueError``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("tenant id must be a GUID or a DNS domain, got an empty value")
    v = value.strip().lower()
    if _GUID.match(v):
        return v
    labels = v.rstrip(".").split(".")
    if (len(v) <= 253 and len(labels) >= 2 and all(_LABEL.match(x) for x in labels)
            and re.match(r"^[a-z][a-z0-9-]*$", labels[-1])):
        return v.rstrip(".")
    raise ValueError(f"tenant id must be a GUID or a DNS domain, got {value!r}")


def validate_client_id(value: str) -> str:
    """Return the app (client) id if it is a GUID, else raise ``ValueError``."""
    if not isinstance(value, str) or not _GUID.match(value.strip()):
        raise ValueError(f"client id must be a GUID, got {value!r}")
    return value.strip().lower()


def _secret(value: SecretStr | str, what: str) -> SecretStr:
    s = value if isinstance(value, SecretStr) else SecretStr(value) if isinstance(value, str) else None
    if s is None or not s.get_secret_value().strip():
        raise ValueError(f"{what} must not be empty")
    return s


@dataclass(frozen=True)
class ClientSecretCredential:
    """An app registration's client id and client secret (a plain ``str`` is wrapped in ``SecretStr``)."""

    client_id: str
    secret: SecretStr

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_id", validate_client_id(self.client_id))
        object.__setattr__(self, "secret", _secret(self.secret, "client secret"))

    def msal_credential(self) -> str | dict[str, str]:
        """The ``client_credential`` argument for msal (unwraps the secret)."""
        return self.secret.get_secret_value()


@dataclass(frozen=True)
class CertificateCredential:
    """An app registration's client id with a certificate: PEM private key, SHA-1/SHA-256 thumbprint."""

    client_id: str
    private_key_pem: SecretStr
    thumbprint: str
    public_certificate_pem: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_id", validate_client_id(self.client_id))
        key = _secret(self.private_key_pem, "certificate private key")
        if "-----BEGIN" not in key.get_secret_value():
            raise ValueError("certificate private key must be PEM text (-----BEGIN ... PRIVATE KEY-----)")
        object.__setattr__(self, "private_key_pem", key)
        tp = re.sub(r"[\s:]", "", self.thumbprint or "").lower() if isinstance(self.thumbprint, str) else ""
        if not _THUMBPRINT.match(tp):
            raise ValueError("certificate thumbprint must be 40 (SHA-1) or 64 (SHA-256) hex digits")
        object.__setattr__(self, "thumbprint", tp.upper())

    def msal_credential(self) -> str | dict[str, str]:
        """The ``client_credential`` dict for msal (unwraps the key)."""
        cred = {"private_key": self.private_key_pem.get_secret_value()}
        if len(self.thumbprint) == 64:
            cred["thumbprint_sha256"] = self.thumbprint
        else:
            cred["thumbprint"] = self.thumbprint
        if self.public_certificate_pem:
            cred["public_certificate"] = self.public_certificate_pem
        return cred


Credential = ClientSecretCredential | CertificateCredential


class _AppSlot:
    """One msal ConfidentialClientApplication (with its token cache), built lazily, and its lock."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.lock = threading.Lock()
        self.app: Any = None


_APPS: dict[tuple[str, ...], _AppSlot] = {}
_APPS_LOCK = threading.Lock()


def _slot_for(tenant: str, key: tuple[str, ...]) -> _AppSlot:
    with _APPS_LOCK:
        slot = _APPS.get(key)
        if slot is None:
            slot = _APPS[key] = _AppSlot(tenant)
        return slot


def drop_token_caches(*tenants: str) -> int:
    """Forget every msal application, and so every cached token, of these tenants (ids or domains)
    in this process, whatever app, cloud or credential they were made with (offboarding).

    A provider still held by a client asks the identity platform afresh on its next request.
    Returns how many token caches held at least one token.
    """
    wanted = {validate_tenant_ref(t) for t in tenants if t and t.strip()}
    with _APPS_LOCK:
        keys = [k for k, slot in _APPS.items() if slot.tenant in wanted]
        slots = [_APPS.pop(k) for k in keys]
    dropped = 0
    for slot in slots:
        with slot.lock:
            app, slot.app = slot.app, None
        if app is not None:
            cache = app.token_cache
            tokens = list(cache.search(cache.CredentialType.ACCESS_TOKEN))
            for at in tokens:
                cache.remove_at(at)
            dropped += bool(tokens)
    if slots:
        log.info("dropped %d token cache(s) of %d msal app(s) for tenant(s) %s", dropped, len(slots),
                 ", ".join(sorted(wanted)))
    return dropped


def cached_token_tenants() -> set[str]:
    """The tenants (ids or domains) this process holds an msal application with a cached token for."""
    with _APPS_LOCK:
        slots = list(_APPS.values())
    out = set()
    for slot in slots:
        with slot.lock:
            cache = getattr(slot.app, "token_cache", None)  # test doubles of msal may have none
            if cache is not None and list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                out.add(slot.tenant)
    return out


def _credential_digest(credential: Credential) -> str:
    material = repr(credential.msal_credential()).encode()
    return hashlib.sha256(material).hexdigest()


class TokenProvider:
    """App-only tokens for one tenant, one per resource, from msal with its own cache.

    Providers for the same tenant, credential and cloud share one msal application (and cache)
    process-wide; msal is only ever called under that application's lock.
    """

    def __init__(self, tenant_id: str, credential: Credential, endpoints: CloudEndpoints, *,
                 ca_file: str | None = None) -> None:
        if not isinstance(credential, ClientSecretCredential | CertificateCredential):
            raise ValueError("credential must be a ClientSecretCredential or a CertificateCredential")
        if not isinstance(endpoints, CloudEndpoints):
            raise ValueError("endpoints must be a CloudEndpoints (see endpoints_for)")
        self.tenant_id = validate_tenant_ref(tenant_id)
        self.endpoints = endpoints
        self.ca_file = ca_file
        self._credential = credential
        self.authority = f"{endpoints.login_url}/{self.tenant_id}"
        host = (urlsplit(endpoints.login_url).hostname or "").lower()
        self._instance_discovery = host in _MICROSOFT_LOGIN_HOSTS
        self._slot = _slot_for(self.tenant_id, (self.authority, credential.client_id, _credential_digest(credential),
                                ca_file or "", str(self._instance_discovery)))

    def __repr__(self) -> str:
        return (f"TokenProvider(tenant_id={self.tenant_id!r}, client_id={self._credential.client_id!r}, "
                f"cloud={self.endpoints.cloud.value!r})")

    def _http_client(self) -> Any:
        """msal's HTTP client: ``trust_env`` off, since REQUESTS_CA_BUNDLE would override ``verify``."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_file or True
        return session

    def _build_app(self) -> Any:
        session = self._http_client()
        kwargs: dict[str, Any] = {}
        if not self._instance_discovery:
            kwargs["instance_discovery"] = False
        return msal.ConfidentialClientApplication(
            self._credential.client_id,
            client_credential=self._credential.msal_credential(),
            authority=self.authority,
            http_client=session,
            **kwargs,
        )

    def token(self, resource: str, *, force_refresh: bool = False) -> str:
        """An access token for ``resource`` (e.g. ``https://graph.microsoft.com``).

        ``force_refresh`` drops the cached token first (after the service rejected it).
        """
        scopes = [resource.rstrip("/") + "/.default"]
        with self._slot.lock:
            try:
                if self._slot.app is None:
                    self._slot.app = self._build_app()
                app = self._slot.app
                if force_refresh:
                    cache = app.token_cache
                    for at in list(cache.search(cache.CredentialType.ACCESS_TOKEN, target=scopes)):
                        cache.remove_at(at)
                result = app.acquire_token_for_client(scopes=scopes)
            except requests.RequestException as exc:
                raise GraphTransportError(
                    f"token request to {self.endpoints.login_url} failed: {type(exc).__name__}") from None
            except ValueError as exc:  # msal: authority unreachable or malformed discovery document
                raise AuthenticationError("authority_error", self._redact(str(exc))) from None
        if isinstance(result, dict) and result.get("access_token"):
            log.debug("token acquired for tenant %s resource %s", self.tenant_id, resource)
            return str(result["access_token"])
        raise self._error_from(result if isinstance(result, dict) else {})

    def _redact(self, text: str) -> str:
        cred = self._credential.msal_credential()
        values = [cred] if isinstance(cred, str) else [cred.get("private_key", "")]
        for v in values:
            if v and v in text:
                text = text.replace(v, "<redacted>")
        return text

    def _error_from(self, result: dict[str, Any]) -> AuthenticationError:
        code = str(result.get("error") or "unknown_error")
        description = self._redact(str(result.get("error_description") or ""))
        codes = {int(c) for c in result.get("error_codes") or [] if str(c).isdigit()}
        codes |= {int(m) for m in re.findall(r"AADSTS(\d+)", description)}
        log.warning("token refused for tenant %s: %s", self.tenant_id, code)
        if codes & _CONSENT_CODES:
            return ConsentMissing(code, description)
        return AuthenticationError(code, description)


class MsalAuth(httpx.Auth):
    """Bearer token for one resource; on a 401 gets a fresh token once and retries."""

    def __init__(self, provider: TokenProvider, resource: str) -> None:
        self.provider = provider
        self.resource = resource

    def __repr__(self) -> str:
        return f"MsalAuth(provider={self.provider!r}, resource={self.resource!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.provider.token(self.resource)}"
        response = yield request
        if response.status_code == 401:
            log.info("401 from %s; refreshing the %s token once", request.url.host, self.resource)
            token = self.provider.token(self.resource, force_refresh=True)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
