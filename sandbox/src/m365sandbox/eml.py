"""Real mail (RFC 5322 ``.eml``) into Graph's ``message`` shape, for loading corpora into the sandbox.

``eml_to_graph_message`` never raises on messy mail: wrong charsets, broken base64, nested
multiparts, TNEF (``winmail.dat`` stays an attachment), HTML-only mail, encoded-word headers and
missing headers all convert. It parses with ``email.policy.default`` and falls back to ``compat32``.
"""

from __future__ import annotations

import base64
import hashlib
import html as htmlmod
import re
import tarfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

Json = dict[str, Any]
RecipientsMap = Mapping[str, str] | Callable[[str], str | None] | None
TAG = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.S | re.I)
MAX_PARTS = 500

__all__ = ["eml_to_graph_message", "iter_eml"]


def iter_eml(source: str | Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every ``.eml`` in a directory (recursively) or a ``.tar.gz``/``.tgz``, by name."""
    path = Path(source)
    if path.is_dir():
        for p in sorted(path.rglob("*.eml")):
            yield str(p.relative_to(path)), p.read_bytes()
        return
    with tarfile.open(path, "r:*") as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and m.name.endswith(".eml")), key=lambda m: m.name
        )
        for m in members:
            fh = tar.extractfile(m)
            if fh is not None:
                yield m.name, fh.read()


def _parse(raw: bytes) -> Message:
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        for part in msg.walk():  # touch what policy.default parses lazily
            part.get_content_type()
            part.get_filename()
        return msg
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        return BytesParser(policy=policy.compat32).parsebytes(raw)


def decode_text(value: Any) -> str:
    """A header value with RFC 2047 encoded words decoded and folding removed."""
    text = value if isinstance(value, str) else str(value)
    try:
        text = str(make_header(decode_header(text)))
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.replace("\r", "").replace("\n", " ").split()) if "\n" in text else text.strip()


def _charset_decode(data: bytes, charset: str | None) -> str:
    for cs in (charset, "utf-8"):
        if not cs:
            continue
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("latin-1")


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _filename(part: Message) -> str | None:
    name: Any
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        name = None
    if not name:
        try:
            name = part.get_param("name")  # a str, or an RFC 2231 (charset, language, value) triple
        except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
            name = None
        if isinstance(name, tuple):
            name = name[2]
    return decode_text(name) if name else None


def _walk(part: Message, out: list[Message], depth: int = 0) -> None:
    if len(out) >= MAX_PARTS or depth > 30:
        return
    try:
        sub = part.get_payload() if part.is_multipart() else None
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        sub = None
    if isinstance(sub, list) and part.get_content_maintype() == "multipart":
        for s in sub:
            if isinstance(s, Message):
                _walk(s, out, depth + 1)
        return
    out.append(part)


def _addresses(values: list[str], remap: Callable[[str], str] | None) -> list[Json]:
    out = []
    try:
        pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        pairs = []
    for name, addr in pairs:
        if not addr and not name:
            continue
        addr = addr or name
        if remap is not None:
            addr = remap(addr)
        out.append({"emailAddress": {"name": name or addr, "address": addr}})
    return out


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = parsedate_to_datetime(text.strip())
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        return None
    if dt is None:
        return None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC) if 1980 <= dt.year <= 2100 else None


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _remapper(recipients_map: RecipientsMap) -> Callable[[str], str] | None:
    if recipients_map is None:
        return None
    if callable(recipients_map):
        fn = recipients_map
        return lambda a: fn(a) or a
    table = {k.lower(): v for k, v in recipients_map.items()}
    return lambda a: table.get(a.lower(), a)


def eml_to_graph_message(
    raw: bytes,
    *,
    recipients_map: RecipientsMap = None,
    now: datetime | None = None,
    mailbox_address: str | None = None,
) -> tuple[Json, list[Json]]:
    """(Graph message JSON, Graph fileAttachment dicts) for one raw message.

    ``recipients_map`` rewrites To/Cc addresses (a mapping or a function of the original address);
    ``mailbox_address``, when given, replaces the first To address (the mailbox the copy lands in).
    Ids (``id``, attachment ids) are derived from the bytes; callers may replace them.
    """
    digest = hashlib.sha256(raw).hexdigest()
    msg = _parse(raw)
    remap = _remapper(recipients_map)
    headers: list[Json] = []
    by_name: dict[str, list[str]] = {}
    try:
        raw_items = list(msg.raw_items()) if hasattr(msg, "raw_items") else list(msg.items())
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        raw_items = []
    for hname, hvalue in raw_items:
        decoded = decode_text(hvalue)
        headers.append({"name": str(hname), "value": decoded})
        by_name.setdefault(str(hname).lower(), []).append(decoded)

    def first(name: str) -> str | None:
        vals = by_name.get(name)
        return vals[0] if vals else None

    to = _addresses(by_name.get("to", []), remap)
    cc = _addresses(by_name.get("cc", []), remap)
    if mailbox_address:
        if to:
            to[0] = {"emailAddress": {"name": to[0]["emailAddress"]["name"], "address": mailbox_address}}
        else:
            to = [{"emailAddress": {"name": mailbox_address, "address": mailbox_address}}]
    if remap is not None or mailbox_address:
        _rewrite_headers(headers, by_name, to, cc)
    frm = _addresses(by_name.get("from", [])[:1], None)
    sender = _addresses(by_name.get("sender", [])[:1], None) or frm
    reply_to = _addresses(by_name.get("reply-to", []), None)
    html: str | None = None
    text: str | None = None
    attachments: list[Json] = []
    parts: list[Message] = []
    _walk(msg, parts)
    for i, part in enumerate(parts):
        try:
            ctype = part.get_content_type()
        except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
            ctype = "application/octet-stream"
        name: str | None = _filename(part)
        try:
            disp = (part.get_content_disposition() or "").lower()
        except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
            disp = ""
        if ctype == "message/rfc822" or (ctype.startswith("message/") and not name):
            data = _embedded_bytes(part)
            name = name or "attached message.eml"
        else:
            data = _payload(part)
        if not name and disp != "attachment" and ctype in ("text/html", "text/plain"):
            try:
                charset = part.get_content_charset()
            except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
                charset = None
            body = _charset_decode(data, charset)
            if ctype == "text/html" and html is None:
                html = body
                continue
            if ctype == "text/plain" and text is None:
                text = body
                continue
        if not data and not name:
            continue
        cid = part.get("Content-ID")
        attachments.append(
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "id": f"att-{digest[:16]}-{i}",
                "name": name or f"part{i}{_ext(ctype)}",
                "contentType": ctype,
                "size": len(data),
                "isInline": bool(cid) and disp != "attachment",
                "contentId": decode_text(cid).strip("<>") if cid else None,
                "contentLocation": None,
                "contentBytes": base64.b64encode(data).decode(),
            }
        )
    subject = first("subject") or ""
    sent = _date(first("date"))
    received_hdr = first("received")
    received = _date(received_hdr.rsplit(";", 1)[-1]) if received_hdr and ";" in received_hdr else None
    fallback = (now or datetime(2025, 1, 1, tzinfo=UTC)).astimezone(UTC)
    received = received or sent or fallback
    sent = sent or received
    imid = (first("message-id") or "").strip() or f"<{digest[:24]}@generated.invalid>"
    preview_src = TAG.sub(" ", html) if html is not None else (text or "")
    preview = " ".join(htmlmod.unescape(preview_src).split())[:255]
    message: Json = {
        "id": f"eml-{digest[:32]}",
        "createdDateTime": _iso(received),
        "lastModifiedDateTime": _iso(received),
        "receivedDateTime": _iso(received),
        "sentDateTime": _iso(sent),
        "categories": [],
        "hasAttachments": any(not a["isInline"] for a in attachments),
        "internetMessageId": imid,
        "subject": subject,
        "bodyPreview": preview,
        "importance": _importance(first("importance"), first("x-priority")),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": bool(first("disposition-notification-to")),
        "isRead": False,
        "isDraft": False,
        "inferenceClassification": "focused",
        "body": {"contentType": "html", "content": html}
        if html is not None
        else {"contentType": "text", "content": text or ""},
        "sender": sender[0] if sender else None,
        "from": frm[0] if frm else None,
        "toRecipients": to,
        "ccRecipients": cc,
        "bccRecipients": [],
        "replyTo": reply_to,
        "flag": {"flagStatus": "notFlagged"},
        "internetMessageHeaders": headers,
    }
    return message, attachments


def _rewrite_headers(
    headers: list[Json], by_name: dict[str, list[str]], to: list[Json], cc: list[Json]
) -> None:
    """Make To/Cc headers name the rewritten recipients."""
    fmt = {
        "to": ", ".join(f'"{r["emailAddress"]["name"]}" <{r["emailAddress"]["address"]}>' for r in to),
        "cc": ", ".join(f'"{r["emailAddress"]["name"]}" <{r["emailAddress"]["address"]}>' for r in cc),
    }
    done: set[str] = set()
    for h in headers:
        low = h["name"].lower()
        if low in fmt and low not in done:
            h["value"] = fmt[low]
            done.add(low)
            by_name[low] = [fmt[low]]


def _embedded_bytes(part: Message) -> bytes:
    try:
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes()
    except Exception:  # noqa: BLE001 - messy mail must never crash the conversion
        return _payload(part)
    return _payload(part)


def _importance(importance: str | None, priority: str | None) -> str:
    low = (importance or "").strip().lower()
    if low in ("high", "low"):
        return low
    if priority and priority.strip()[:1] in ("1", "2"):
        return "high"
    return "normal"


def _ext(ctype: str) -> str:
    return {
        "text/html": ".html",
        "text/plain": ".txt",
        "application/pdf": ".pdf",
        "image/png": ".png",
        "image/jpeg": ".jpg",
        "image/gif": ".gif",
        "message/rfc822": ".eml",
    }.get(ctype, ".bin")
