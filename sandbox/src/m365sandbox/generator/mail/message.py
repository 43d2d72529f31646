"""A generated message as Graph holds it: the ``message`` resource with its file attachments."""

from __future__ import annotations

import base64
import html as htmlmod
import random
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from m365sandbox.generator.common import Json, address, change_key, exchange_id, iso
from m365sandbox.generator.mail.context import MailContext

TAG = re.compile(r"<[^>]+>")


def preview(html: str | None, text: str | None) -> str:
    """``bodyPreview``: the first 255 characters of the body's text."""
    raw = TAG.sub(" ", html) if html is not None else (text or "")
    return " ".join(htmlmod.unescape(raw).split())[:255]


def conversation_id(rng: random.Random) -> str:
    return base64.urlsafe_b64encode(
        b"\x00\x00\x00\x03\x24" + rng.randbytes(16) + b"\x00\x10\x00" + rng.randbytes(16)
    ).decode()


def file_attachments(c: MailContext, mid: str, attachments: Sequence[tuple[str, str, bytes]],
                     received: datetime) -> list[Json]:
    """Graph ``fileAttachment`` resources (with ``contentBytes``) of (name, content type, bytes)."""
    return [
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": exchange_id(c.rng, c.key(mid), b"\x12\x00"),
            "name": n,
            "contentType": ct,
            "size": len(data) + 180,
            "isInline": False,
            "lastModifiedDateTime": iso(received),
            "contentId": None,
            "contentLocation": None,
            "contentBytes": base64.b64encode(data).decode(),
        }
        for n, ct, data in attachments
    ]


def make_message(
    c: MailContext,
    mid: str,
    folder: str,
    *,
    subject: str,
    frm: tuple[str, str],
    to: list[tuple[str, str]],
    html: str | None,
    text: str | None = None,
    received: datetime,
    headers: list[Json],
    imid: str,
    conversation: str,
    cc: Sequence[tuple[str, str]] = (),
    reply_to: tuple[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    is_read: bool | None = None,
    sender: tuple[str, str] | None = None,
) -> Json:
    """The copy of a message in mailbox ``mid``'s ``folder`` (its own id and change key)."""
    rng = c.rng
    msg_id = exchange_id(rng, c.key(mid))
    atts = file_attachments(c, mid, attachments, received)
    sent = received - timedelta(seconds=rng.randint(2, 90))
    return {
        "id": msg_id,
        "createdDateTime": iso(received),
        "lastModifiedDateTime": iso(received),
        "changeKey": change_key(rng),
        "categories": [],
        "receivedDateTime": iso(received),
        "sentDateTime": iso(sent),
        "hasAttachments": bool(atts),
        "internetMessageId": imid,
        "subject": subject,
        "bodyPreview": preview(html, text),
        "importance": "normal",
        "parentFolderId": folder,
        "conversationId": conversation,
        "conversationIndex": base64.b64encode(rng.randbytes(22)).decode(),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": rng.random() < 0.6 if is_read is None else is_read,
        "isDraft": False,
        "inferenceClassification": "focused",
        "body": {"contentType": "html", "content": html}
        if html is not None
        else {"contentType": "text", "content": text or ""},
        "sender": address(*(sender or frm)),
        "from": address(*frm),
        "toRecipients": [address(n, a) for n, a in to],
        "ccRecipients": [address(n, a) for n, a in cc],
        "bccRecipients": [],
        "replyTo": [address(*reply_to)] if reply_to else [],
        "flag": {"flagStatus": "notFlagged"},
        "internetMessageHeaders": headers,
        "attachments": atts,
    }


def deliver(c: MailContext, mid: str, msg: Json, benign: bool) -> None:
    """Put ``msg`` in its mailbox, count it, and record it in the ground truth."""
    c.mailboxes[mid].messages.append(msg)
    c.counts[mid] = c.counts.get(mid, 0) + 1
    (c.truth.benign_message_ids if benign else c.truth.malicious_message_ids).add(msg["id"])
