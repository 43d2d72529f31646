"""``ExchangeClient``: Exchange Online cmdlets over the admin REST API (``InvokeCommand``)."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from mailwarden.graph._auth import validate_tenant_ref
from mailwarden.graph._clouds import CloudEndpoints, host_key
from mailwarden.graph._errors import GraphStatusError, NotFound
from mailwarden.graph._http import HttpCore, error_details, status_error
from mailwarden.graph._retry import RetryPolicy, parse_retry_after

__all__ = ["ANCHOR_MAILBOX", "ExchangeClient", "parse_exchange_error"]

log = logging.getLogger(__name__)

ANCHOR_MAILBOX = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"
_CMDLET = re.compile(r"^[A-Za-z]+-[A-Za-z0-9]+$")
_NOT_FOUND = ("ManagementObjectNotFoundException", "ManagementObjectNotFound", "couldn't be found")


def parse_exchange_error(response: httpx.Response) -> GraphStatusError:
    """The admin API's error body as our exception tree; "object couldn't be found" is ``NotFound``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message, rid = error_details(body)
    if not message:
        message = response.reason_phrase
    rid = rid or response.headers.get("request-id") or response.headers.get("client-request-id")
    status = response.status_code
    if status in (400, 404) and any(m in message for m in _NOT_FOUND):
        return NotFound(status, code, message, rid)
    return status_error(status, code, message, rid, parse_retry_after(response.headers))


def _need(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    return value


class ExchangeClient:
    """Synchronous, thread-safe client of ``/adminapi/beta/{tenant}/InvokeCommand`` for one tenant."""

    def __init__(self, tenant_id: str, endpoints: CloudEndpoints, auth: httpx.Auth, *,
                 transport: httpx.BaseTransport | None = None, verify: str | bool = True,
                 retry: RetryPolicy | None = None, timeout: float = 60.0, page_size: int = 1000) -> None:
        if not isinstance(endpoints, CloudEndpoints):
            raise ValueError("endpoints must be a CloudEndpoints (see endpoints_for)")
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
        self.tenant_id = validate_tenant_ref(tenant_id)
        self.endpoints = endpoints
        self.url = f"{endpoints.exchange_url}/adminapi/beta/{self.tenant_id}/InvokeCommand"
        self._host = host_key(endpoints.exchange_url)
        self._headers = {
            "Prefer": f"odata.maxpagesize={page_size}",
            "X-AnchorMailbox": f"{ANCHOR_MAILBOX}{self.tenant_id}",
        }
        self._core = HttpCore(self.tenant_id, frozenset({self._host}), auth, transport=transport,
                              verify=verify, retry=retry or RetryPolicy(), timeout=timeout,
                              error_parser=parse_exchange_error)

    def __repr__(self) -> str:
        return f"ExchangeClient(tenant_id={self.tenant_id!r}, cloud={self.endpoints.cloud.value!r})"

    def _check_tenant(self, tenant_id: str | None) -> None:
        if tenant_id is not None and validate_tenant_ref(tenant_id) != self.tenant_id:
            raise ValueError(f"this client is for tenant {self.tenant_id}; refusing to target {tenant_id!r}")

    def _check_next(self, link: str) -> None:
        self._core.check_url(link)
        parts = [unquote(p) for p in urlsplit(link).path.split("/")]
        # ['', 'adminapi', 'beta', '{tenant}', 'InvokeCommand']
        if len(parts) < 5 or parts[1].lower() != "adminapi" or parts[4].lower() != "invokecommand":
            raise ValueError(f"unexpected Exchange nextLink path: {urlsplit(link).path[:200]!r}")
        self._check_tenant(parts[3])

    def iter_invoke(self, cmdlet: str, parameters: dict[str, Any] | None = None, *,
                    tenant_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Run a cmdlet; lazily yield its output rows across ``@odata.nextLink`` pages."""
        if not isinstance(cmdlet, str) or not _CMDLET.match(cmdlet):
            raise ValueError(f"not a cmdlet name: {cmdlet!r}")
        if parameters is not None and not isinstance(parameters, dict):
            raise ValueError("parameters must be a dict")
        self._check_tenant(tenant_id)
        return self._iter(cmdlet, dict(parameters or {}))

    def _iter(self, cmdlet: str, parameters: dict[str, Any]) -> Iterator[dict[str, Any]]:
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
        url = self.url
        seen: set[str] = set()
        while True:
            _, page = self._core.send("POST", url, json=body, headers=self._headers,
                                      idempotent=cmdlet.startswith("Get-"))  # reads may be re-sent
            page = page if isinstance(page, dict) else {}
            for warning in page.get("@adminapi.warnings") or page.get("adminapi.warnings") or []:
                log.warning("%s (tenant %s): %s", cmdlet, self.tenant_id, warning)
            value = page.get("value")
            if isinstance(value, list):
                yield from (row for row in value if isinstance(row, dict))
            link = page.get("@odata.nextLink")
            if not link:
                return
            digest = hashlib.sha256(str(link).encode()).hexdigest()
            if digest in seen:
                log.warning("%s: the service repeated a nextLink; stopping", cmdlet)
                return
            seen.add(digest)
            self._check_next(str(link))
            url = str(link)

    def invoke(self, cmdlet: str, parameters: dict[str, Any] | None = None, *,
               tenant_id: str | None = None) -> list[dict[str, Any]]:
        """Run a cmdlet and return all its output rows."""
        return list(self.iter_invoke(cmdlet, parameters, tenant_id=tenant_id))

    # -- typed helpers ----------------------------------------------------------------------------
    def get_mailboxes(self) -> list[dict[str, Any]]:
        """``Get-Mailbox -ResultSize Unlimited``."""
        return self.invoke("Get-Mailbox", {"ResultSize": "Unlimited"})

    def get_mailbox(self, identity: str) -> dict[str, Any]:
        """``Get-Mailbox -Identity``; ``NotFound`` if there is no such mailbox."""
        rows = self.invoke("Get-Mailbox", {"Identity": _need(identity, "identity")})
        if not rows:
            raise NotFound(404, "NotFound", f"mailbox {identity!r} not found", None)
        return rows[0]

    def get_recipients(self) -> list[dict[str, Any]]:
        """``Get-Recipient -ResultSize Unlimited``."""
        return self.invoke("Get-Recipient", {"ResultSize": "Unlimited"})

    def get_inbox_rules(self, mailbox: str, include_hidden: bool = True) -> list[dict[str, Any]]:
        """``Get-InboxRule -Mailbox [-IncludeHidden]`` (hidden rules are invisible to Graph)."""
        params: dict[str, Any] = {"Mailbox": _need(mailbox, "mailbox")}
        if include_hidden:
            params["IncludeHidden"] = True
        return self.invoke("Get-InboxRule", params)

    def remove_inbox_rule(self, mailbox: str, identity: str) -> None:
        """``Remove-InboxRule -Mailbox -Identity``."""
        self.invoke("Remove-InboxRule", {"Mailbox": _need(mailbox, "mailbox"),
                                         "Identity": _need(identity, "identity")})

    def disable_inbox_rule(self, mailbox: str, identity: str) -> None:
        """``Disable-InboxRule -Mailbox -Identity``."""
        self.invoke("Disable-InboxRule", {"Mailbox": _need(mailbox, "mailbox"),
                                          "Identity": _need(identity, "identity")})

    def disable_mailbox_forwarding(self, mailbox: str) -> None:
        """``Set-Mailbox`` clearing ForwardingSmtpAddress/ForwardingAddress and DeliverToMailboxAndForward."""
        self.invoke("Set-Mailbox", {"Identity": _need(mailbox, "mailbox"), "ForwardingSmtpAddress": None,
                                    "ForwardingAddress": None, "DeliverToMailboxAndForward": False})

    def get_distribution_groups(self) -> list[dict[str, Any]]:
        """``Get-DistributionGroup -ResultSize Unlimited``."""
        return self.invoke("Get-DistributionGroup", {"ResultSize": "Unlimited"})

    def get_distribution_group_members(self, identity: str) -> list[dict[str, Any]]:
        """``Get-DistributionGroupMember -Identity -ResultSize Unlimited``."""
        return self.invoke("Get-DistributionGroupMember", {"Identity": _need(identity, "identity"),
                                                           "ResultSize": "Unlimited"})

    def close(self) -> None:
        """Close the connection pool."""
        self._core.close()

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
