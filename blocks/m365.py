"""Prefect blocks that hold a Microsoft 365 connection: the app registration and the tenant.

Secrets are ``SecretStr`` and are unwrapped only in :meth:`M365App.credential`, where a client is
built. Register with ``prefect block register -m blocks``.

No block holds a host or a CA file: where a tenant's requests go is Microsoft's table for its
cloud, or the sandbox tenant server named by this process's settings (``MAILWARDEN_SANDBOX_URL``
and ``MAILWARDEN_SANDBOX_CA_FILE``, loopback https only), through :func:`server_endpoints` and
:func:`server_ca_file` -- the one place every client builder asks. A block document that still
carries the old ``login_url``/``graph_url``/``exchange_url``/``ca_file`` fields loads, and they are
ignored (Prefect keeps a document's unknown keys when a block is saved over it; nothing reads them).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator, model_validator

from mailwarden.exchange import ExchangeClient
from mailwarden.graph import (
    CertificateCredential,
    ClientSecretCredential,
    CloudEndpoints,
    GraphClient,
    build_exchange_client,
    build_graph_client,
    endpoints_for,
    host_key,
    validate_tenant_ref,
)
from mailwarden.mailbox.ews import EwsSettings
from mailwarden.settings import get_settings

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
#: Fields older tenant blocks carried (host overrides a run could write); ignored when loaded.
LEGACY_HOST_FIELDS = ("login_url", "graph_url", "exchange_url", "ca_file")
Tier = Literal["basic", "advanced"]
CloudName = Literal["global", "usgov-gcchigh", "usgov-dod", "china"]


class M365App(Block):
    """An Entra ID application registration that mailwarden acts as (one per permission tier)."""

    _block_type_name = "M365 App"
    _block_type_slug = "m365-app"
    _description = "Application (client) credentials mailwarden uses to call Microsoft Graph and Exchange."

    client_id: str = Field(title="Application (client) ID", description="The app registration's client id (a GUID).")
    client_secret: SecretStr | None = Field(
        default=None, title="Client secret", description="Client secret value. Leave empty to use a certificate."
    )
    certificate_private_key: SecretStr | None = Field(
        default=None,
        title="Certificate private key (PEM)",
        description="PEM private key of the certificate uploaded to the app registration.",
    )
    certificate_thumbprint: str | None = Field(
        default=None, title="Certificate thumbprint", description="SHA-1 thumbprint (hex) of that certificate."
    )
    tier: Tier = Field(
        default="basic",
        title="Permission tier",
        description="basic: read directory and mail, remediate mail. advanced: also manage rules and identities "
        "(revoke sessions, reset passwords, disable accounts).",
    )
    redirect_uri: str = Field(
        default="http://127.0.0.1:8766/consent/callback",
        title="Consent redirect URI",
        description="Where the admin consent page sends the admin back (mailwarden's consent callback).",
    )

    @field_validator("client_id")
    @classmethod
    def _client_id_is_guid(cls, value: str) -> str:
        if not _GUID.match(value or ""):
            raise ValueError("client_id must be the app registration's GUID")
        return value.lower()

    @model_validator(mode="after")
    def _one_credential(self) -> M365App:
        has_secret = self.client_secret is not None and self.client_secret.get_secret_value() != ""
        has_cert = self.certificate_private_key is not None and self.certificate_private_key.get_secret_value() != ""
        if not has_secret and not has_cert:
            raise ValueError("an M365 app needs a client secret or a certificate private key")
        if has_cert and not re.fullmatch(r"[0-9A-Fa-f]{40}", self.certificate_thumbprint or ""):
            raise ValueError("a certificate credential needs its 40-hex-digit SHA-1 thumbprint")
        return self

    def credential(self) -> ClientSecretCredential | CertificateCredential:
        """The credential for the Graph client (the only place the secret is handed on)."""
        if self.certificate_private_key is not None and self.certificate_private_key.get_secret_value():
            return CertificateCredential(
                client_id=self.client_id,
                private_key_pem=self.certificate_private_key,
                thumbprint=self.certificate_thumbprint or "",
            )
        assert self.client_secret is not None
        return ClientSecretCredential(client_id=self.client_id, secret=self.client_secret)


class M365Tenant(Block):
    """A customer tenant connected to mailwarden: where it lives, which apps it consented to."""

    _block_type_name = "M365 Tenant"
    _block_type_slug = "m365-tenant"
    _description = "A connected Microsoft 365 tenant: cloud, consented apps, data residency."

    tenant_id: str = Field(title="Tenant ID", description="The directory (tenant) id, a GUID.")
    primary_domain: str = Field(title="Primary domain", description="The tenant's primary (default) domain.")
    cloud: CloudName = Field(
        default="global",
        title="Cloud",
        description="Microsoft cloud: global (incl. GCC), usgov-gcchigh, usgov-dod or china (21Vianet).",
    )
    app: M365App = Field(title="App (basic tier)", description="The app the tenant consented to for mail protection.")
    advanced_app: M365App | None = Field(
        default=None,
        title="App (advanced tier)",
        description="The app consented for account-takeover response, if the tenant granted it.",
    )
    store_url: SecretStr | None = Field(
        default=None,
        title="Store URL (data residency)",
        description="Database URL of this tenant's own store (for example an EU PostgreSQL). Empty: the default store.",
    )
    consent_state: Literal["pending", "granted", "denied", "revoked"] = Field(
        default="pending", title="Consent state", description="Where admin consent stands."
    )
    consented_at: datetime | None = Field(default=None, title="Consented at", description="When consent was granted.")
    ews_url: str | None = Field(
        default=None,
        title="On-premises EWS URL",
        description="Exchange hybrid: the on-premises Exchange Web Services endpoint "
        "(https://mail.example.com/EWS/Exchange.asmx). Empty: every mailbox is in Exchange Online.",
    )
    ews_auth_type: Literal["basic", "ntlm"] = Field(
        default="ntlm", title="On-premises EWS authentication", description="How to sign in to the EWS endpoint."
    )
    ews_username: str | None = Field(
        default=None,
        title="On-premises EWS user",
        description="Service account with the ApplicationImpersonation role (user@domain or DOMAIN\\user).",
    )
    ews_password: SecretStr | None = Field(
        default=None, title="On-premises EWS password", description="The service account's password."
    )
    ews_verify_tls: bool = Field(
        default=True, title="Verify the EWS certificate", description="Check the on-premises server's TLS certificate."
    )
    ews_ca_pem: str | None = Field(
        default=None,
        title="EWS CA certificate (PEM)",
        description="PEM of the CA that issued the on-premises certificate (an internal CA). Empty: system trust.",
    )

    @model_validator(mode="before")
    @classmethod
    def _ignore_legacy_hosts(cls, data: Any) -> Any:
        """Old documents' host overrides are dropped: hosts are server configuration, not block data."""
        if isinstance(data, dict) and any(k in data for k in LEGACY_HOST_FIELDS):
            data = {k: v for k, v in data.items() if k not in LEGACY_HOST_FIELDS}
        return data

    @field_validator("tenant_id")
    @classmethod
    def _tenant_is_guid(cls, value: str) -> str:
        if not _GUID.match(value or ""):
            raise ValueError("tenant_id must be the directory (tenant) GUID")
        return value.lower()

    @field_validator("primary_domain")
    @classmethod
    def _domain_ok(cls, value: str) -> str:
        return validate_tenant_ref(value.lower())

    @property
    def tier(self) -> Tier:
        """The highest tier the tenant has an app for."""
        return "advanced" if self.advanced_app is not None else "basic"

    @property
    def block_name(self) -> str:
        """The name this tenant's block is saved under: ``tenant_block_name(primary_domain)``, or the
        document's own name when it was loaded under the older spelling of the same domain. A copy
        with another domain (``model_copy``) never inherits the name of the block it came from."""
        own = tenant_block_name(self.primary_domain)
        saved = getattr(self, "_block_document_name", None)
        if saved and not getattr(self, "_is_anonymous", False) and saved == legacy_block_name(self.primary_domain):
            return str(saved)
        return own

    def endpoints(self) -> CloudEndpoints:
        """Where this tenant's requests go: its cloud's hosts, or the server's sandbox (:func:`server_endpoints`)."""
        return server_endpoints(self.cloud)

    @property
    def ca_file(self) -> str | None:
        """The CA file clients trust (read-only: the server's sandbox CA, see :func:`server_ca_file`)."""
        return server_ca_file()

    def _app_for(self, tier: Tier) -> M365App:
        if tier == "advanced":
            if self.advanced_app is None:
                raise PermissionError(f"tenant {self.primary_domain} has not granted the advanced permissions")
            return self.advanced_app
        return self.app

    def graph_client(self, tier: Tier = "basic", **kwargs: object) -> GraphClient:
        """A Graph client acting with the app of the given tier, for this tenant only."""
        return build_graph_client(
            self.tenant_id, self._app_for(tier).credential(), self.endpoints(), ca_file=server_ca_file(), **kwargs
        )

    def ews_settings(self) -> EwsSettings | None:
        """The on-premises EWS connection (the only place its password is handed on), or None."""
        if not self.ews_url:
            return None
        return EwsSettings(url=self.ews_url, username=self.ews_username or "",
                           password=self.ews_password or SecretStr(""), auth_type=self.ews_auth_type,
                           verify_tls=self.ews_verify_tls, ca_pem=self.ews_ca_pem,
                           ca_file=server_ca_file(for_url=self.ews_url))

    def exchange_client(self, tier: Tier = "basic", **kwargs: object) -> ExchangeClient:
        """An Exchange admin API client for this tenant."""
        return build_exchange_client(
            self.tenant_id, self._app_for(tier).credential(), self.endpoints(), ca_file=server_ca_file(), **kwargs
        )


def server_endpoints(cloud: str) -> CloudEndpoints:
    """Where a tenant of ``cloud`` is reached: Microsoft's hosts, or this server's sandbox tenant server.

    The only source of an override is the server's settings (``MAILWARDEN_SANDBOX_URL``), never a
    run's parameters or a block; :func:`~mailwarden.graph.endpoints_for` refuses anything but
    https on a loopback address, so even a wrong setting cannot send a secret off the machine.
    """
    url = get_settings().sandbox_url or None
    return endpoints_for(cloud, login_url=url, graph_url=url, exchange_url=url)


def server_ca_file(*, for_url: str | None = None) -> str | None:
    """The CA file to trust instead of the system's: ``MAILWARDEN_SANDBOX_CA_FILE`` while a sandbox is
    configured, else None. With ``for_url``: only if that URL is on the sandbox's host and port."""
    settings = get_settings()
    if not settings.sandbox_url or settings.sandbox_ca_file is None:
        return None
    if for_url is not None:
        try:
            if host_key(for_url) != host_key(settings.sandbox_url):
                return None
        except ValueError:
            return None
    return str(settings.sandbox_ca_file)


def legacy_block_name(domain: str) -> str:
    """The name blocks were saved under before :func:`tenant_block_name` became injective
    (``foo-bar.com`` and ``foo.bar.com`` were both ``foo-bar-com``): read, never written."""
    return re.sub(r"[^a-z0-9-]+", "-", domain.strip().lower()).strip("-")


def tenant_block_name(domain: str) -> str:
    """The block document name of the tenant whose primary domain is ``domain``: one name per domain.

    Readable and injective: ``-`` becomes ``--`` and ``.`` becomes ``-`` (``foo-bar.com`` ->
    ``foo--bar-com``, ``foo.bar.com`` -> ``foo-bar-com``). DNS labels never start or end with a
    hyphen, so a lone ``-`` always stands for a dot and a name spells exactly one domain. A value
    without a dot is a block name (or a tenant GUID) already: it is only lower-cased, so flows can
    take a block name or a domain. Block document names allow lower-case letters, digits and dashes.
    """
    value = domain.strip().lower()
    if "." in value:
        value = value.rstrip(".").replace("-", "--").replace(".", "-")
    return re.sub(r"[^a-z0-9-]+", "-", value).strip("-")
