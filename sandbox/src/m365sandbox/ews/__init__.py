"""An on-premises Exchange 2016 server's EWS endpoint for the sandbox's hybrid tenants.

``POST /EWS/Exchange.asmx`` (SOAP 1.1) on the sandbox's TLS listener. A tenant's on-premises
mailboxes are its users Exchange Online knows only as a ``MailUser`` routed to on-premises (see
``generate_tenant(onprem_share=...)``); their mail sits in the same mail model as the cloud
mailboxes but Graph refuses it (``MailboxNotEnabledForRESTAPI``) and only EWS serves it.

Authentication is HTTP Basic against the tenant's on-premises service accounts
(:func:`add_onprem_account`); wrong credentials get 401. The account acts on a mailbox through
``ExchangeImpersonation`` (the ApplicationImpersonation role is assumed granted), or on the mailbox
named in a ``DistinguishedFolderId``'s ``Mailbox``.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request
from fastapi.responses import Response

from m365sandbox.core import Sandbox
from m365sandbox.ews.operations import OPERATIONS, OnPremMailbox
from m365sandbox.ews.soap import NSMAP, Element, SoapFault, envelope, fault, parse, text
from m365sandbox.state import TenantState, hash_password, verify_password

PATH = "/EWS/Exchange.asmx"
XML = "text/xml; charset=utf-8"


def add_onprem_account(tenant: TenantState, username: str, password: str) -> None:
    """Create (or reset) an on-premises service account of ``tenant`` (``user@domain`` or ``DOMAIN\\user``)."""
    with tenant.lock:
        tenant.onprem_accounts[username.lower()] = {"password_hash": hash_password(password)}


def is_onprem(tenant: TenantState, user_id: str) -> bool:
    """Whether the user's mailbox lives on-premises (Exchange Online sees a ``MailUser``)."""
    rec = tenant.recipients.get(user_id) or {}
    return user_id in tenant.mailboxes and rec.get("RecipientTypeDetails") == "MailUser"


def _authenticate(sb: Sandbox, header: str | None) -> TenantState | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    for t in list(sb.tenants.values()):
        account = t.onprem_accounts.get(user.lower())
        if account is not None and verify_password(password, account["password_hash"]):
            return t
    return None


def _target(tenant: TenantState, header: Element | None, op: Element, now: float) -> OnPremMailbox:
    smtp = text(header, "t:ExchangeImpersonation/t:ConnectingSID/t:PrimarySmtpAddress") \
        or text(header, "t:ExchangeImpersonation/t:ConnectingSID/t:SmtpAddress")
    if not smtp:
        found = op.find(".//t:Mailbox/t:EmailAddress", NSMAP)
        smtp = found.text if found is not None else text(op, "m:MailboxSmtpAddress")
    if not smtp:
        raise SoapFault("ErrorMissingEmailAddress", "When making a request as an account that does not have a "
                        "mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids.")
    user = tenant.find_user(smtp)
    if user is None or not is_onprem(tenant, user["id"]):
        raise SoapFault("ErrorNonExistentMailbox", f"The SMTP address {smtp} has no mailbox associated with it.")
    return OnPremMailbox(tenant, user, tenant.mailboxes[user["id"]], now)


def build_ews_router(sb: Sandbox) -> APIRouter:
    """The ``/EWS/Exchange.asmx`` route."""
    r = APIRouter()

    @r.post(PATH)
    async def ews(request: Request) -> Response:
        tenant = _authenticate(sb, request.headers.get("authorization"))
        if tenant is None:
            realm = request.url.hostname or "localhost"
            return Response(status_code=401, headers={"WWW-Authenticate": f'Basic realm="{realm}"'},
                            content="401 - Unauthorized: Access is denied due to invalid credentials.",
                            media_type="text/html")
        raw = await request.body()
        try:
            header, op = parse(raw)
            name = op.tag.split("}", 1)[-1]
            handler = OPERATIONS.get(name)
            if handler is None:
                raise SoapFault("ErrorInvalidRequest", f"The operation {name} is not supported by this server.")
            mbx = _target(tenant, header, op, float(sb.clock()))
            body = envelope(handler(op, mbx))
        except SoapFault as exc:
            return Response(status_code=500, content=fault(exc), media_type=XML)
        return Response(status_code=200, content=body, media_type=XML)

    return r


__all__ = ["PATH", "add_onprem_account", "build_ews_router", "is_onprem"]
