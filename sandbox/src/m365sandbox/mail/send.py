"""``POST /users/{u}/sendMail``: 202 with no body; a copy in the sender's Sent Items and one in
the inbox of every internal recipient (users by any address, mail-enabled groups expanded)."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from m365sandbox.context import GraphHTTPError, require_role
from m365sandbox.mail.common import json_body, mailbox_of, no_content, now_of
from m365sandbox.mail.schema import iso

Json = dict[str, Any]
RECIPIENT_FIELDS = ("toRecipients", "ccRecipients", "bccRecipients")


def _addresses(message: Json) -> list[str]:
    out = []
    for name in RECIPIENT_FIELDS:
        value = message.get(name) or []
        if not isinstance(value, list):
            raise GraphHTTPError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        for r in value:
            address = ((r or {}).get("emailAddress") or {}).get("address") if isinstance(r, dict) else None
            if not isinstance(address, str) or "@" not in address:
                raise GraphHTTPError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
            out.append(address)
    if not out:
        raise GraphHTTPError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
    return out


def _group_members(tenant: Any, address: str) -> list[str] | None:
    low = address.lower()
    for gid, g in list(getattr(tenant, "groups", {}).items()):
        keys = [str(g.get("mail") or "").lower()]
        keys += [a.split(":", 1)[-1].lower() for a in g.get("proxyAddresses") or []]
        if low in keys:
            expand = getattr(tenant, "transitive_members", None)
            return list(expand(gid)) if expand else list(getattr(tenant, "members", {}).get(gid, []))
    return None


def resolve_mailboxes(tenant: Any, addresses: list[str]) -> list[str]:
    """Owner ids of the tenant mailboxes the addresses reach, each once."""
    out: list[str] = []
    for address in addresses:
        user = tenant.find_user(address)
        ids = [user["id"]] if user else (_group_members(tenant, address) or [])
        for uid in ids:
            if uid in tenant.mailboxes and uid not in out:
                out.append(uid)
    return out


def _headers(sender: str, message: Json, domain: str, at: str) -> list[Json]:
    to = ", ".join(r["emailAddress"]["address"] for r in message.get("toRecipients") or [])
    return [
        {"name": "Received", "value": f"from mail.{domain} by sandbox.outlook.invalid with Microsoft SMTP "
                                      f"Server (version=TLS1_2); {at}"},
        {"name": "Authentication-Results", "value": f"dkim=none (message not signed) header.d=none;"
                                                    f"dmarc=none action=none header.from={domain};"},
        {"name": "X-MS-Exchange-Organization-AuthAs", "value": "Internal"},
        {"name": "From", "value": sender}, {"name": "To", "value": to},
        {"name": "Subject", "value": str(message.get("subject") or "")},
        {"name": "Message-ID", "value": message["internetMessageId"]},
    ]


async def send_mail(request: Request) -> Response:
    """Accept a message for delivery (202 means accepted, not delivered)."""
    require_role(request, "Mail.Send")
    p = request.path_params
    tenant, user, mb = mailbox_of(request, p["user"])
    body = await json_body(request)
    message = body.get("message")
    if not isinstance(message, dict):
        raise GraphHTTPError(400, "ErrorInvalidRequest", "The 'message' parameter is missing.")
    save = body.get("saveToSentItems", True)
    save = save if isinstance(save, bool) else str(save).lower() != "false"
    addresses = _addresses(message)
    address = str(user.get("mail") or user.get("userPrincipalName"))
    sender = {"emailAddress": {"name": user.get("displayName") or address, "address": address}}
    now = now_of(request)
    at = iso(now)
    domain = address.rsplit("@", 1)[-1]
    msg = copy.deepcopy(message)
    for name in ("id", "parentFolderId", "receivedDateTime", "createdDateTime", "lastModifiedDateTime"):
        msg.pop(name, None)
    msg.update({"from": sender, "sender": sender, "sentDateTime": at, "isDraft": False,
                "internetMessageId": f"<{secrets.token_hex(12).upper()}@{domain}>"})
    msg.setdefault("conversationId", "AAQkAD" + secrets.token_urlsafe(40))
    sent = None
    if save:
        sent = mb.deliver({**msg, "isRead": True, "receivedDateTime": at}, "sentitems", now)
    delivered = resolve_mailboxes(tenant, addresses)
    inbound = {**msg, "bccRecipients": [], "isRead": False, "receivedDateTime": at,
               "internetMessageHeaders": _headers(address, msg, domain, at)}
    for uid in delivered:
        tenant.mailboxes[uid].deliver(inbound, "inbox", now)
    with mb.lock:
        mb.sent_log.append({"message": sent or {**msg}, "recipients": addresses, "delivered_to": delivered,
                            "at": at})
    return no_content(202)


def add_send_routes(r: APIRouter) -> None:
    r.add_api_route("/users/{user}/sendMail", send_mail, methods=["POST"], status_code=202)
