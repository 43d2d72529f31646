"""What a message's content implies: its text rendering, its ``bodyPreview``, and the fields
Exchange fills in when a message is delivered."""

from __future__ import annotations

import base64
import html
import re
import secrets
from typing import Any

from m365sandbox.mail.schema import change_key, iso

Json = dict[str, Any]
FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
_TAG = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"[ \t\r\f\v]+")


def html_to_text(content: str) -> str:
    """A plain-text rendering of an HTML body (what ``outlook.body-content-type="text"`` gives)."""
    text = _TAG.sub(" ", re.sub(r"<br\s*/?>|</p>|</div>", "\n", content, flags=re.IGNORECASE))
    lines = [_SPACE.sub(" ", line).strip() for line in html.unescape(text).splitlines()]
    return "\n".join(line for line in lines if line)


def preview_of(body: Json | None) -> str:
    """``bodyPreview``: the first 255 characters of the body as text."""
    if not body:
        return ""
    content = str(body.get("content") or "")
    text = html_to_text(content) if str(body.get("contentType", "")).lower() == "html" else content
    return " ".join(text.split())[:255]


def fill_new_message(msg: Json, ts: float) -> Json:
    """Complete a message about to be delivered: times, ids and the defaults Exchange sets."""
    now = iso(ts)
    msg.setdefault("receivedDateTime", now)
    msg.setdefault("sentDateTime", msg["receivedDateTime"])
    msg["createdDateTime"] = now
    msg["lastModifiedDateTime"] = now
    msg["changeKey"] = change_key()
    sender = msg.get("from") or msg.get("sender")
    address = str(((sender or {}).get("emailAddress") or {}).get("address") or "sandbox.invalid")
    domain = address.rsplit("@", 1)[-1]
    msg.setdefault("internetMessageId", f"<{secrets.token_hex(12).upper()}@{domain}>")
    msg.setdefault("subject", "")
    msg.setdefault("body", {"contentType": "text", "content": ""})
    msg.setdefault("bodyPreview", preview_of(msg.get("body")))
    msg.setdefault("importance", "normal")
    msg.setdefault("inferenceClassification", "focused")
    msg.setdefault("isRead", False)
    msg.setdefault("isDraft", False)
    msg.setdefault("isDeliveryReceiptRequested", False)
    msg.setdefault("isReadReceiptRequested", False)
    msg.setdefault("categories", [])
    msg.setdefault("flag", {"flagStatus": "notFlagged"})
    for name in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo", "internetMessageHeaders"):
        msg.setdefault(name, [])
    if sender is not None:
        msg.setdefault("from", sender)
        msg.setdefault("sender", sender)
    atts = msg.get("attachments") or []
    for att in atts:
        att.setdefault("@odata.type", FILE_ATTACHMENT)
        att.setdefault("isInline", False)
        att.setdefault("contentType", "application/octet-stream")
        att.setdefault("size", len(base64.b64decode(att.get("contentBytes") or b"")))
    msg["hasAttachments"] = any(not a.get("isInline") for a in atts)
    return msg
