"""Helpers to build Graph-shaped messages for detection tests."""

from __future__ import annotations

from typing import Any


def addr(address: str, name: str = "") -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": address}}


def msg(
    *,
    subject: str = "Hello",
    sender: str = "alice@partner.example",
    name: str = "Alice",
    body: str = "Just checking in about Thursday.",
    html: bool = False,
    headers: list[dict[str, str]] | None = None,
    reply_to: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    m: dict[str, Any] = {
        "subject": subject,
        "from": addr(sender, name),
        "sender": addr(sender, name),
        "toRecipients": [addr("bob@contoso.com", "Bob")],
        "body": {"contentType": "html" if html else "text", "content": body},
        "internetMessageHeaders": headers or [],
    }
    if reply_to:
        m["replyTo"] = [addr(reply_to)]
    if attachments is not None:
        m["attachments"] = attachments
        m["hasAttachments"] = bool(attachments)
    return m
