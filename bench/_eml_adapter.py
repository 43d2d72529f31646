"""Private stand-in for ``m365sandbox.eml``: .eml bytes -> Graph-shaped message dict.

Used by the detection benches only while the sandbox converter is unavailable.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
import tarfile
from collections.abc import Iterator
from email.message import Message
from email.utils import getaddresses
from pathlib import Path
from typing import Any

_ANGLE = re.compile(r"<\s*([^<>@\s]+@[^<>\s]+)\s*>")


def _addr(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    m = _ANGLE.search(str(value))
    if m:  # tolerate unquoted commas in display names: 'Team ,_<a@b.example>'
        name = str(value)[: m.start()].strip().strip('"').strip()
        return {"emailAddress": {"name": name, "address": m.group(1)}}
    pairs = getaddresses([str(value)])
    if not pairs:
        return None
    name, address = pairs[0]
    return {"emailAddress": {"name": name, "address": address}}


def _addrs(value: str | None) -> list[dict[str, Any]]:
    if not value:
        return []
    return [{"emailAddress": {"name": n, "address": a}} for n, a in getaddresses([str(value)]) if a]


def _decode(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _header(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:
        return None
    return None if value is None else str(value)


def eml_to_graph_message(raw: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (message JSON, attachments) in Microsoft Graph's shape."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = []
    for k, v in msg.items():
        try:
            headers.append(
                {"name": str(k), "value": str(email.header.make_header(email.header.decode_header(v)))}
            )
        except Exception:
            headers.append({"name": str(k), "value": str(v)})
    decoded = {h["name"].lower(): h["value"] for h in reversed(headers)}
    html = text = None
    attachments: list[dict[str, Any]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = part.get_filename()
        disp = (part.get("Content-Disposition") or "").lower()
        if filename or "attachment" in disp or not ctype.startswith("text/"):
            try:
                data = part.get_payload(decode=True) or b""
            except Exception:
                data = b""
            if not isinstance(data, bytes):
                data = b""
            attachments.append(
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": str(email.header.make_header(email.header.decode_header(filename)))
                    if filename
                    else "",
                    "contentType": ctype,
                    "size": len(data),
                    "contentBytes": base64.b64encode(data).decode("ascii"),
                    "_sha256": hashlib.sha256(data).hexdigest(),
                }
            )
            continue
        if ctype == "text/html" and html is None:
            html = _decode(part)
        elif ctype == "text/plain" and text is None:
            text = _decode(part)
    body = (
        {"contentType": "html", "content": html}
        if html is not None
        else {"contentType": "text", "content": text or ""}
    )
    preview_src = text if text is not None else (html or "")
    message = {
        "subject": decoded.get("subject"),
        "from": _addr(decoded.get("from")),
        "sender": _addr(decoded.get("sender") or decoded.get("from")),
        "replyTo": _addrs(decoded.get("reply-to")),
        "toRecipients": _addrs(decoded.get("to")),
        "ccRecipients": _addrs(decoded.get("cc")),
        "body": body,
        "bodyPreview": " ".join(preview_src.split())[:255],
        "internetMessageHeaders": headers,
        "internetMessageId": decoded.get("message-id"),
        "hasAttachments": bool(attachments),
        "attachments": attachments,
    }
    return message, attachments


def iter_eml(source: str | Path) -> Iterator[tuple[str, bytes]]:
    """Yield (name, raw bytes) for each .eml in a directory or a tar.gz, in name order."""
    path = Path(source)
    if path.is_dir():
        for p in sorted(path.rglob("*.eml")):
            yield p.name, p.read_bytes()
        return
    with tarfile.open(path, "r:*") as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and m.name.endswith(".eml")), key=lambda m: m.name
        )
        for m in members:
            f = tar.extractfile(m)
            if f is not None:
                yield Path(m.name).name, f.read()
