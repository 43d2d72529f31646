"""Serialise mailbox state as Graph JSON: messages (default set, ``$select``, text bodies) and
file attachments."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

from m365sandbox.mail.content import FILE_ATTACHMENT, html_to_text, preview_of
from m365sandbox.mail.model import Item
from m365sandbox.mail.schema import MESSAGE_DEFAULT, stable_change_key

Json = dict[str, Any]
def _derived(name: str, item: Item, data: Json) -> Any:
    """The value Exchange would show for a property the stored JSON lacks."""
    if name in ("createdDateTime", "lastModifiedDateTime", "sentDateTime"):
        return data.get("receivedDateTime")
    if name == "changeKey":
        return stable_change_key(item.id)
    if name in ("categories", "toRecipients", "ccRecipients", "bccRecipients", "replyTo",
                "internetMessageHeaders"):
        return []
    if name == "hasAttachments":
        return any(not a.get("isInline") for a in data.get("attachments") or [])
    if name == "bodyPreview":
        return preview_of(data.get("body"))
    if name == "importance":
        return "normal"
    if name == "inferenceClassification":
        return "focused"
    if name in ("isRead", "isDraft", "isDeliveryReceiptRequested", "isReadReceiptRequested"):
        return False
    if name == "flag":
        return {"flagStatus": "notFlagged"}
    if name == "sender":
        return data.get("from")
    if name == "body":
        return {"contentType": "text", "content": ""}
    if name in ("conversationId", "conversationIndex"):
        seed = str(data.get("internetMessageId") or data.get("subject") or item.id)
        digest = hashlib.sha256(seed.encode()).digest()
        if name == "conversationIndex":
            return base64.b64encode(b"\x01" + digest[:21]).decode()
        return "AAQkAD" + base64.urlsafe_b64encode(digest + digest[:10]).decode()
    return None


def etag(item: Item) -> str:
    return f'W/"{item.get("changeKey") or stable_change_key(item.id)}"'


def web_link(iid: str) -> str:
    return (f"https://outlook.office365.com/owa/?ItemID={quote(iid, safe='')}"
            "&exvsurl=1&viewmodel=ReadMessageItem")


def render_message(item: Item, select: list[str] | None = None, *, text_body: bool = False,
                   expand_attachments: bool = False, odata_type: bool = False) -> Json:
    """A message as Graph serves it: ``@odata.etag``, then the default or selected properties."""
    data = item.merged()
    out: Json = {}
    if odata_type:
        out["@odata.type"] = "#microsoft.graph.message"
    out["@odata.etag"] = etag(item)
    names = MESSAGE_DEFAULT if select is None else ("id", *[n for n in select if n != "id"])
    for name in names:
        if name == "id":
            out["id"] = item.id
        elif name == "parentFolderId":
            out[name] = item.folder
        elif name == "webLink":
            out[name] = web_link(item.id)
        elif name in data and not (name == "sender" and data[name] is None):
            out[name] = data[name]
        else:
            out[name] = _derived(name, item, data)
        if text_body and name in ("body", "uniqueBody") and out[name]:
            body = out[name]
            if str(body.get("contentType", "")).lower() == "html":
                out[name] = {"contentType": "text", "content": html_to_text(str(body.get("content") or ""))}
    if expand_attachments:
        out["attachments"] = render_attachments(item)
    return out


def attachment_id(item: Item, index: int, att: Json) -> str:
    """An attachment's id: its own when the seed gave one, else derived from the message id."""
    if att.get("id"):
        return str(att["id"])
    return item.id + base64.urlsafe_b64encode(b"\x12\x00\x10\x00" + index.to_bytes(4, "big")).decode()


def render_attachments(item: Item, select: list[str] | None = None) -> list[Json]:
    """The message's attachments as ``fileAttachment`` resources."""
    out = []
    data = item.merged()
    for i, att in enumerate(data.get("attachments") or []):
        raw = att.get("contentBytes") or ""
        full: Json = {
            "@odata.type": FILE_ATTACHMENT,
            "@odata.mediaContentType": att.get("contentType") or "application/octet-stream",
            "id": attachment_id(item, i, att),
            "lastModifiedDateTime": att.get("lastModifiedDateTime") or data.get("receivedDateTime"),
            "name": att.get("name"), "contentType": att.get("contentType") or "application/octet-stream",
            "size": int(att.get("size") or len(base64.b64decode(raw or b""))),
            "isInline": bool(att.get("isInline", False)),
            "contentId": att.get("contentId"), "contentLocation": att.get("contentLocation"),
            "contentBytes": raw}
        if select is not None:
            full = {k: v for k, v in full.items() if k.startswith("@") or k == "id" or k in select}
        out.append(full)
    return out
