"""Exchange Online admin API client: cmdlets (Get-Mailbox, Get-InboxRule ...) over REST.

Errors are the ``mailwarden.graph`` exception tree.
"""

from __future__ import annotations

from typing import Any

from mailwarden.exchange._client import ANCHOR_MAILBOX, ExchangeClient, parse_exchange_error
from mailwarden.graph import CloudEndpoints, Credential, MsalAuth, TokenProvider

__all__ = ["ANCHOR_MAILBOX", "ExchangeClient", "build_exchange_client", "parse_exchange_error"]


def build_exchange_client(tenant_id: str, credential: Credential, endpoints: CloudEndpoints, *,
                          ca_file: str | None = None, **kw: Any) -> ExchangeClient:
    """An ``ExchangeClient`` with msal auth for the cloud's Exchange resource; ``ca_file`` verifies TLS."""
    provider = TokenProvider(tenant_id, credential, endpoints, ca_file=ca_file)
    kw.setdefault("verify", ca_file or True)
    return ExchangeClient(tenant_id, endpoints, MsalAuth(provider, endpoints.exchange_resource), **kw)
