"""The sandbox's messages and folders (Graph JSON in the mail model) written as EWS ``types.xsd`` XML.

Elements follow the schema's sequence order (``ItemType`` then ``MessageType``); a FieldURI the
emulation does not hold is simply left out, as Exchange leaves out properties an item lacks.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from m365sandbox.ews.soap import Element, T, sub
from m365sandbox.mail.model import Item, MailboxState
from m365sandbox.mail.render import render_attachments
from m365sandbox.mail.schema import stable_change_key

Json = dict[str, Any]


def _mailbox(parent: Element, tag: str, addr: Any) -> None:
    email = (addr or {}).get("emailAddress") or {}
    if not email.get("address"):
        return
    box = sub(parent, T, tag)
    sub(box, T, "Name", str(email.get("name") or email["address"]))
    sub(box, T, "EmailAddress", str(email["address"]))
    sub(box, T, "RoutingType", "SMTP")
    sub(box, T, "MailboxType", "OneOff")


def _single(tag: str) -> Callable[[Element, Item, Json], None]:
    def render(parent: Element, item: Item, data: Json) -> None:
        key = {"Sender": "sender", "From": "from"}[tag]
        if (data.get(key) or {}).get("emailAddress"):
            _mailbox(sub(parent, T, tag), "Mailbox", data.get(key))
    return render


def _many(tag: str, key: str) -> Callable[[Element, Item, Json], None]:
    def render(parent: Element, item: Item, data: Json) -> None:
        values = [v for v in data.get(key) or [] if (v or {}).get("emailAddress")]
        if values:
            box = sub(parent, T, tag)
            for v in values:
                _mailbox(box, "Mailbox", v)
    return render


def _text(tag: str, key: str, conv: Callable[[Any], str] = str) -> Callable[[Element, Item, Json], None]:
    def render(parent: Element, item: Item, data: Json) -> None:
        value = data.get(key)
        if value is not None and value != "":
            sub(parent, T, tag, conv(value))
    return render


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _ews_time(value: Any) -> str:
    text = str(value)
    return text if text.endswith("Z") or "+" in text[10:] else text + "Z"


def _item_id(parent: Element, item: Item, data: Json) -> None:
    sub(parent, T, "ItemId", Id=item.id, ChangeKey=str(data.get("changeKey") or stable_change_key(item.id)))


def _parent(parent: Element, item: Item, data: Json) -> None:
    sub(parent, T, "ParentFolderId", Id=item.folder, ChangeKey=stable_change_key(item.folder))


def _body(parent: Element, item: Item, data: Json) -> None:
    body = data.get("body") or {}
    kind = "HTML" if str(body.get("contentType", "")).lower() == "html" else "Text"
    sub(parent, T, "Body", str(body.get("content") or ""), BodyType=kind, IsTruncated="false")


def _attachments(parent: Element, item: Item, data: Json) -> None:
    atts = render_attachments(item)
    if not atts:
        return
    box = sub(parent, T, "Attachments")
    for i, att in enumerate(atts):
        file_attachment(box, item, i, att, content=False)


def file_attachment(parent: Element, item: Item, index: int, att: Json, *, content: bool) -> None:
    """``<t:FileAttachment>``; ``content`` adds the base64 ``Content`` (GetAttachment)."""
    el = sub(parent, T, "FileAttachment")
    sub(el, T, "AttachmentId", Id=attachment_ref(item.id, index), RootItemId=item.id,
        RootItemChangeKey=str(item.get("changeKey") or stable_change_key(item.id)))
    sub(el, T, "Name", str(att.get("name") or "attachment"))
    sub(el, T, "ContentType", str(att.get("contentType") or "application/octet-stream"))
    if att.get("contentId"):
        sub(el, T, "ContentId", str(att["contentId"]))
    sub(el, T, "Size", str(int(att.get("size") or 0)))
    if att.get("lastModifiedDateTime"):
        sub(el, T, "LastModifiedTime", _ews_time(att["lastModifiedDateTime"]))
    sub(el, T, "IsInline", _bool(att.get("isInline")))
    sub(el, T, "IsContactPhoto", "false")
    if content:
        sub(el, T, "Content", str(att.get("contentBytes") or ""))


def attachment_ref(item_id: str, index: int) -> str:
    """An attachment id: the item id and the attachment's position, base64."""
    return base64.b64encode(f"{item_id}|{index}".encode()).decode()


def parse_attachment_ref(ref: str) -> tuple[str, int] | None:
    """(item id, index) of :func:`attachment_ref`, or None for anything else."""
    try:
        iid, _, idx = base64.b64decode(ref, validate=True).decode().rpartition("|")
        return iid, int(idx)
    except (ValueError, UnicodeDecodeError):
        return None


def _headers(parent: Element, item: Item, data: Json) -> None:
    hdrs = [h for h in data.get("internetMessageHeaders") or [] if isinstance(h, dict) and h.get("name")]
    if hdrs:
        box = sub(parent, T, "InternetMessageHeaders")
        for h in hdrs:
            sub(box, T, "InternetMessageHeader", str(h.get("value") or ""), HeaderName=str(h["name"]))


def _size(parent: Element, item: Item, data: Json) -> None:
    body = str((data.get("body") or {}).get("content") or "")
    att = sum(int(a.get("size") or 0) for a in data.get("attachments") or [] if isinstance(a, dict))
    sub(parent, T, "Size", str(1024 + len(body.encode()) + att))


def _categories(parent: Element, item: Item, data: Json) -> None:
    cats = data.get("categories") or []
    if cats:
        box = sub(parent, T, "Categories")
        for c in cats:
            sub(box, T, "String", str(c))


def _importance(parent: Element, item: Item, data: Json) -> None:
    sub(parent, T, "Importance", str(data.get("importance") or "normal").capitalize())


def _item_class(parent: Element, item: Item, data: Json) -> None:
    sub(parent, T, "ItemClass", "IPM.Note")


def _has_attachments(parent: Element, item: Item, data: Json) -> None:
    sub(parent, T, "HasAttachments", _bool(data.get("hasAttachments") or data.get("attachments")))


def _conversation_id(parent: Element, item: Item, data: Json) -> None:
    if data.get("conversationId"):
        sub(parent, T, "ConversationId", Id=str(data["conversationId"]))


RendererFn = Callable[[Element, Item, Json], None]
MESSAGE_FIELDS: list[tuple[str, RendererFn]] = [
    # (FieldURI, renderer) in the schema's sequence order
    ("item:ItemId", _item_id),
    ("item:ParentFolderId", _parent),
    ("item:ItemClass", _item_class),
    ("item:Subject", _text("Subject", "subject")),
    ("item:Body", _body),
    ("item:Attachments", _attachments),
    ("item:DateTimeReceived", _text("DateTimeReceived", "receivedDateTime", _ews_time)),
    ("item:Size", _size),
    ("item:Categories", _categories),
    ("item:Importance", _importance),
    ("item:IsDraft", _text("IsDraft", "isDraft", _bool)),
    ("item:InternetMessageHeaders", _headers),
    ("item:DateTimeSent", _text("DateTimeSent", "sentDateTime", _ews_time)),
    ("item:DateTimeCreated", _text("DateTimeCreated", "createdDateTime", _ews_time)),
    ("item:HasAttachments", _has_attachments),
    ("item:LastModifiedTime", _text("LastModifiedTime", "lastModifiedDateTime", _ews_time)),
    ("item:ConversationId", _conversation_id),
    ("message:Sender", _single("Sender")),
    ("message:ToRecipients", _many("ToRecipients", "toRecipients")),
    ("message:CcRecipients", _many("CcRecipients", "ccRecipients")),
    ("message:BccRecipients", _many("BccRecipients", "bccRecipients")),
    ("message:IsReadReceiptRequested", _text("IsReadReceiptRequested", "isReadReceiptRequested", _bool)),
    ("message:IsDeliveryReceiptRequested", _text("IsDeliveryReceiptRequested", "isDeliveryReceiptRequested",
                                                 _bool)),
    ("message:From", _single("From")),
    ("message:InternetMessageId", _text("InternetMessageId", "internetMessageId")),
    ("message:IsRead", _text("IsRead", "isRead", _bool)),
    ("message:ReplyTo", _many("ReplyTo", "replyTo")),
]
KNOWN_FIELDS = frozenset(uri for uri, _ in MESSAGE_FIELDS)
DEFAULT_SHAPE = frozenset({"item:ItemId", "item:ParentFolderId", "item:ItemClass", "item:Subject",
                           "item:DateTimeReceived", "item:Size", "item:Importance", "item:DateTimeSent",
                           "item:DateTimeCreated", "item:HasAttachments", "message:Sender",
                           "message:ToRecipients", "message:From", "message:IsRead"})
"""The ``Default`` base shape (``AllProperties`` is every known field but the body-heavy ones too)."""


def message(parent: Element, item: Item, fields: frozenset[str]) -> None:
    """``<t:Message>`` with the given FieldURIs (``item:ItemId`` always)."""
    data = item.merged()
    el = sub(parent, T, "Message")
    for uri, render in MESSAGE_FIELDS:
        if uri == "item:ItemId" or uri in fields:
            render(el, item, data)


def folder_class(mb: MailboxState, fid: str) -> str | None:
    """``IPF.Note`` for mail folders; None for the root and the Recoverable Items tree."""
    if fid == mb.root_id or mb.in_dumpster(fid):
        return None
    return "IPF.Note"


def folder(parent: Element, mb: MailboxState, fid: str, *, id_only: bool = False) -> None:
    """``<t:Folder>`` with id, parent, class, name and counts."""
    el = sub(parent, T, "Folder")
    sub(el, T, "FolderId", Id=fid, ChangeKey=stable_change_key(fid))
    if id_only:
        return
    if fid == mb.root_id:
        sub(el, T, "DisplayName", "")
        sub(el, T, "TotalCount", "0")
        sub(el, T, "ChildFolderCount", str(sum(1 for f in mb.folders.values()
                                               if f.get("parentFolderId") in (None, fid))))
        sub(el, T, "DistinguishedFolderId", "root")
        return
    f = mb.folder_json(fid)
    parent_id = str(f.get("parentFolderId") or mb.root_id)
    sub(el, T, "ParentFolderId", Id=parent_id, ChangeKey=stable_change_key(parent_id))
    cls = folder_class(mb, fid)
    if cls:
        sub(el, T, "FolderClass", cls)
    sub(el, T, "DisplayName", str(f["displayName"]))
    sub(el, T, "TotalCount", str(f["totalItemCount"]))
    sub(el, T, "ChildFolderCount", str(len(mb.child_folders(fid, True))))
    names = [n for n, wid in mb.well_known.items() if wid == fid]
    if names:
        sub(el, T, "DistinguishedFolderId", names[0])
    sub(el, T, "UnreadCount", str(f["unreadItemCount"]))
