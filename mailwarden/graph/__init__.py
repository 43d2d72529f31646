"""Microsoft Graph client: clouds, app-only auth (msal), paging, delta, ``$batch``, throttling, errors.

Typical use::

    endpoints = endpoints_for("global")
    cred = ClientSecretCredential(client_id, SecretStr(secret))
    with build_graph_client(tenant_id, cred, endpoints) as graph:
        for user in graph.iter_pages("/users", params={"$select": "id,mail"}):
            ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailwarden.graph._auth import (
    CertificateCredential,
    ClientSecretCredential,
    Credential,
    MsalAuth,
    TokenProvider,
    cached_token_tenants,
    drop_token_caches,
    validate_client_id,
    validate_tenant_ref,
)
from mailwarden.graph._batch import MAX_BATCH, BatchRequest, BatchResponse
from mailwarden.graph._client import DeltaIterator, DeltaPage, GraphClient
from mailwarden.graph._clouds import (
    Cloud,
    CloudEndpoints,
    check_override_url,
    endpoints_for,
    host_key,
    is_loopback_host,
)
from mailwarden.graph._errors import (
    TRANSIENT,
    AuthenticationError,
    ConsentMissing,
    DeltaExpired,
    Forbidden,
    GraphError,
    GraphStatusError,
    GraphTransportError,
    HostNotAllowed,
    NotFound,
    ServiceUnavailable,
    Throttled,
    consent_missing_from,
)
from mailwarden.graph._retry import RetryPolicy

if TYPE_CHECKING:
    from mailwarden.exchange import ExchangeClient

__all__ = [
    "MAX_BATCH",
    "TRANSIENT",
    "AuthenticationError",
    "BatchRequest",
    "BatchResponse",
    "CertificateCredential",
    "ClientSecretCredential",
    "Cloud",
    "CloudEndpoints",
    "ConsentMissing",
    "Credential",
    "DeltaExpired",
    "DeltaIterator",
    "DeltaPage",
    "Forbidden",
    "GraphClient",
    "GraphError",
    "GraphStatusError",
    "GraphTransportError",
    "HostNotAllowed",
    "MsalAuth",
    "NotFound",
    "RetryPolicy",
    "ServiceUnavailable",
    "Throttled",
    "TokenProvider",
    "build_exchange_client",
    "build_graph_client",
    "cached_token_tenants",
    "check_override_url",
    "consent_missing_from",
    "drop_token_caches",
    "endpoints_for",
    "host_key",
    "is_loopback_host",
    "validate_client_id",
    "validate_tenant_ref",
]


def build_graph_client(tenant_id: str, credential: Credential, endpoints: CloudEndpoints, *,
                       ca_file: str | None = None, **kw: Any) -> GraphClient:
    """A ``GraphClient`` with msal auth for the cloud's Graph resource; ``ca_file`` also verifies TLS."""
    provider = TokenProvider(tenant_id, credential, endpoints, ca_file=ca_file)
    kw.setdefault("verify", ca_file or True)
    return GraphClient(tenant_id, endpoints, MsalAuth(provider, endpoints.graph_resource), **kw)


def build_exchange_client(tenant_id: str, credential: Credential, endpoints: CloudEndpoints, *,
                          ca_file: str | None = None, **kw: Any) -> ExchangeClient:
    """An ``ExchangeClient`` with msal auth for the cloud's Exchange resource (``mailwarden.exchange``)."""
    from mailwarden.exchange import build_exchange_client as build

    return build(tenant_id, credential, endpoints, ca_file=ca_file, **kw)
