"""The EWS operations the sandbox serves, over one on-premises mailbox's live state.

Each handler takes the operation element and an :class:`OnPremMailbox` and returns the response
element; per-item failures become ``ResponseClass="Error"`` messages, as Exchange answers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from m365sandbox.context import GraphHTTPError
from m365sandbox.ews import render, rules
from m365sandbox.ews.restrict import matcher
from m365sandbox.ews.soap import (
    NSMAP,
    Element,
    M,
    OperationError,
    SoapFault,
    T,
    message,
    response,
    sub,
    text,
)
from m365sandbox.mail.model import MailboxState
from m365sandbox.mail.render import render_attachments
from m365sandbox.mail.schema import parse_time, stable_change_key

NOT_FOUND = OperationError("ErrorItemNotFound", "The specified object was not found in the store.")
FOLDER_NOT_FOUND = OperationError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
MAX_PAGE = 1000
"""EWS's default ``EWSFindCountLimit``: at most this many entries in one FindItem/FindFolder page."""


@dataclass
class OnPremMailbox:
    """The mailbox an EWS request acts on (the impersonated one)."""

    tenant: Any
    user: dict[str, Any]
    mb: MailboxState
    now: float

    @property
    def smtp(self) -> str:
        return str(self.user.get("mail") or self.user.get("userPrincipalName") or "")


def _shape(el: Element | None, default: frozenset[str] = render.DEFAULT_SHAPE) -> frozenset[str]:
    if el is None:
        return default
    base = text(el, "t:BaseShape", "Default")
    fields = {str(f.get("FieldURI")) for f in el.findall("t:AdditionalProperties/t:FieldURI", NSMAP)}
    if base == "IdOnly":
        start: frozenset[str] = frozenset()
    elif base == "AllProperties":
        start = render.KNOWN_FIELDS - {"item:Attachments", "item:InternetMessageHeaders"}
    else:
        start = default
    return start | fields


def _folder_ref(mbx: OnPremMailbox, el: Element) -> str:
    """A folder id for ``t:FolderId`` or ``t:DistinguishedFolderId`` (root included)."""
    name = el.tag.split("}", 1)[-1]
    ref = str(el.get("Id") or "")
    mb = mbx.mb
    if name == "DistinguishedFolderId":
        box = text(el, "t:Mailbox/t:EmailAddress")
        if box and mbx.tenant.find_user(box) is not mbx.user:
            raise SoapFault("ErrorNonExistentMailbox", f"The SMTP address {box} has no mailbox associated with it.")
        if ref == "root":
            return mb.root_id
    if ref == mb.root_id:
        return ref
    found = mb.resolve_folder(ref) if name == "DistinguishedFolderId" else (ref if ref in mb.folders else None)
    if found is None:
        raise FOLDER_NOT_FOUND
    return found


def _folder_refs(mbx: OnPremMailbox, container: Element | None) -> list[Element]:
    """The element children of a ``FolderIds``-like container (ids resolved later)."""
    return [c for c in (container if container is not None else []) if isinstance(c.tag, str)]


def _page(op: Element, view_tag: str) -> tuple[int, int, str]:
    view = op.find(f"m:{view_tag}", NSMAP)
    if view is None:
        return 0, MAX_PAGE, "Beginning"
    limit = min(int(view.get("MaxEntriesReturned") or MAX_PAGE), MAX_PAGE)
    return int(view.get("Offset") or 0), max(1, limit), view.get("BasePoint") or "Beginning"


def _window(total: int, offset: int, limit: int, base: str) -> tuple[int, int]:
    if base == "End":
        stop = max(0, total - offset)
        return max(0, stop - limit), stop
    return min(offset, total), min(offset + limit, total)


# -- folders ---------------------------------------------------------------------------------

def get_folder(op: Element, mbx: OnPremMailbox) -> Element:
    resp, msgs = response("GetFolder")
    for ref in _folder_refs(mbx, op.find("m:FolderIds", NSMAP)):
        try:
            with mbx.mb.lock:
                fid = _folder_ref(mbx, ref)
                box = sub(message(msgs, "GetFolder"), M, "Folders")
                render.folder(box, mbx.mb, fid)
        except OperationError as exc:
            message(msgs, "GetFolder", exc)
    return resp


def children(mb: MailboxState, parent: str) -> list[str]:
    """Child folder ids (hidden ones too); top-level folders without a parent hang under the root."""
    if parent == mb.root_id:
        return [fid for fid, f in mb.folders.items() if f.get("parentFolderId") in (None, mb.root_id)]
    return mb.child_folders(parent, True)


def _descendants(mb: MailboxState, parent: str, deep: bool) -> list[str]:
    out: list[str] = []
    todo = [parent]
    while todo:
        kids = sorted(children(mb, todo.pop(0)), key=lambda f: mb.folders[f]["displayName"].lower())
        out.extend(kids)
        if deep:
            todo.extend(kids)
    return out


def find_folder(op: Element, mbx: OnPremMailbox) -> Element:
    resp, msgs = response("FindFolder")
    deep = (op.get("Traversal") or "Shallow") == "Deep"
    offset, limit, base = _page(op, "IndexedPageFolderView")
    shape = op.find("m:FolderShape", NSMAP)
    id_only = text(shape, "t:BaseShape") == "IdOnly" and shape.find("t:AdditionalProperties", NSMAP) is None
    for ref in _folder_refs(mbx, op.find("m:ParentFolderIds", NSMAP)):
        try:
            with mbx.mb.lock:
                parent = _folder_ref(mbx, ref)
                found = _descendants(mbx.mb, parent, deep)
                lo, hi = _window(len(found), offset, limit, base)
                msg = message(msgs, "FindFolder")
                root = sub(msg, M, "RootFolder", IndexedPagingOffset=str(hi), TotalItemsInView=str(len(found)),
                           IncludesLastItemInRange="true" if hi >= len(found) else "false")
                box = sub(root, T, "Folders")
                for fid in found[lo:hi]:
                    render.folder(box, mbx.mb, fid, id_only=id_only)
        except OperationError as exc:
            message(msgs, "FindFolder", exc)
    return resp


def create_folder(op: Element, mbx: OnPremMailbox) -> Element:
    resp, msgs = response("CreateFolder")
    parent_el = _folder_refs(mbx, op.find("m:ParentFolderId", NSMAP))
    if not parent_el:
        raise SoapFault("ErrorInvalidRequest", "CreateFolder needs a ParentFolderId.")
    for f in _folder_refs(mbx, op.find("m:Folders", NSMAP)):
        name = text(f, "t:DisplayName") or ""
        try:
            if not name.strip():
                raise OperationError("ErrorInvalidFolderId", "The folder needs a display name.")
            with mbx.mb.lock:
                parent = _folder_ref(mbx, parent_el[0])
                try:
                    fid = mbx.mb.create_folder(parent, name.strip())
                except GraphHTTPError as exc:
                    raise OperationError("ErrorFolderExists",
                                         "A folder with the specified name already exists.") from exc
            box = sub(message(msgs, "CreateFolder"), M, "Folders")
            render.folder(box, mbx.mb, fid, id_only=True)
        except OperationError as exc:
            message(msgs, "CreateFolder", exc)
    return resp


# -- items -----------------------------------------------------------------------------------

def _sort(op: Element) -> tuple[str, bool]:
    order = op.find("m:SortOrder/t:FieldOrder", NSMAP)
    if order is None:
        return "item:DateTimeReceived", True
    uri = order.find("t:FieldURI", NSMAP)
    return (str(uri.get("FieldURI")) if uri is not None else "item:DateTimeReceived",
            (order.get("Order") or "Ascending") == "Descending")


_SORT_KEYS: dict[str, Callable[[Any], Any]] = {
    "item:DateTimeReceived": lambda it: parse_time(it.get("receivedDateTime")),
    "item:DateTimeSent": lambda it: parse_time(it.get("sentDateTime")),
    "item:DateTimeCreated": lambda it: parse_time(it.get("createdDateTime")),
    "item:Subject": lambda it: str(it.get("subject") or "").lower(),
}


def find_item(op: Element, mbx: OnPremMailbox) -> Element:
    resp, msgs = response("FindItem")
    if (op.get("Traversal") or "Shallow") != "Shallow":
        message(msgs, "FindItem", OperationError("ErrorInvalidOperation",
                                                 "Only Shallow traversal is supported for items."))
        return resp
    refs = _folder_refs(mbx, op.find("m:ParentFolderIds", NSMAP))
    keep = matcher(op.find("m:Restriction", NSMAP))
    fields = _shape(op.find("m:ItemShape", NSMAP))
    fields -= {"item:Body", "item:Attachments", "item:InternetMessageHeaders", "item:MimeContent"}
    offset, limit, base = _page(op, "IndexedPageItemView")
    uri, desc = _sort(op)
    key = _SORT_KEYS.get(uri)
    if key is None:
        raise SoapFault("ErrorUnsupportedPathForSortGroup", f"The property {uri} can't be used for sorting.")
    for ref in refs:
        try:
            with mbx.mb.lock:
                fid = _folder_ref(mbx, ref)
                items = [mbx.mb.items[i] for i in mbx.mb.ids_in(fid)]
                if keep is not None:
                    items = [it for it in items if keep(it)]
                items.sort(key=lambda it: (key(it), it.seq), reverse=desc)
                lo, hi = _window(len(items), offset, limit, base)
                msg = message(msgs, "FindItem")
                root = sub(msg, M, "RootFolder", IndexedPagingOffset=str(hi), TotalItemsInView=str(len(items)),
                           IncludesLastItemInRange="true" if hi >= len(items) else "false")
                box = sub(root, T, "Items")
                for it in items[lo:hi]:
                    render.message(box, it, frozenset(fields))
        except OperationError as exc:
            message(msgs, "FindItem", exc)
    return resp


def _item_ids(op: Element, tag: str = "m:ItemIds") -> list[str]:
    box = op.find(tag, NSMAP)
    return [str(e.get("Id") or "") for e in (box if box is not None else []) if isinstance(e.tag, str)]


def get_item(op: Element, mbx: OnPremMailbox) -> Element:
    resp, msgs = response("GetItem")
    fields = _shape(op.find("m:ItemShape", NSMAP))
    for iid in _item_ids(op):
        with mbx.mb.lock:
            item = mbx.mb.items.get(iid)
            if item is None:
                message(msgs, "GetItem", NOT_FOUND)
                continue
            box = sub(message(msgs, "GetItem"), M, "Items")
            render.message(box, item, fields)
    return resp


def get_attachment(op: Element, mbx: OnPremMailbox) -> Element:
    resp, msgs = response("GetAttachment")
    box_el = op.find("m:AttachmentIds", NSMAP)
    for el in (box_el if box_el is not None else []):
        if not isinstance(el.tag, str):
            continue
        ref = render.parse_attachment_ref(str(el.get("Id") or ""))
        with mbx.mb.lock:
            item = mbx.mb.items.get(ref[0]) if ref else None
            atts = render_attachments(item) if item is not None else []
            if item is None or ref is None or not 0 <= ref[1] < len(atts):
                message(msgs, "GetAttachment", OperationError(
                    "ErrorInvalidAttachmentId", "The attachment ID was invalid or the attachment was not found."))
                continue
            box = sub(message(msgs, "GetAttachment"), M, "Attachments")
            render.file_attachment(box, item, ref[1], atts[ref[1]], content=True)
    return resp


def move_item(op: Element, mbx: OnPremMailbox) -> Element:
    resp, msgs = response("MoveItem")
    dest_el = _folder_refs(mbx, op.find("m:ToFolderId", NSMAP))
    if not dest_el:
        raise SoapFault("ErrorInvalidRequest", "MoveItem needs a ToFolderId.")
    return_ids = (text(op, "m:ReturnNewItemIds", "true") or "true").lower() == "true"
    for iid in _item_ids(op):
        try:
            with mbx.mb.lock:
                dest = _folder_ref(mbx, dest_el[0])
                if iid not in mbx.mb.items:
                    raise NOT_FOUND
                moved = mbx.mb.move(iid, dest, mbx.now)
            msg = message(msgs, "MoveItem")
            items = sub(msg, M, "Items")
            if return_ids:
                el = sub(items, T, "Message")
                sub(el, T, "ItemId", Id=moved.id, ChangeKey=str(moved.get("changeKey") or stable_change_key(moved.id)))
        except OperationError as exc:
            message(msgs, "MoveItem", exc)
    return resp


DELETE_TARGET = {"HardDelete": "recoverableitemspurges", "SoftDelete": "recoverableitemsdeletions",
                 "MoveToDeletedItems": "deleteditems"}


def delete_item(op: Element, mbx: OnPremMailbox) -> Element:
    resp, msgs = response("DeleteItem")
    kind = op.get("DeleteType") or ""
    if kind not in DELETE_TARGET:
        raise SoapFault("ErrorSchemaValidation", f"The DeleteType attribute '{kind}' is not valid.")
    for iid in _item_ids(op):
        with mbx.mb.lock:
            item = mbx.mb.items.get(iid)
            if item is None:
                message(msgs, "DeleteItem", NOT_FOUND)
                continue
            target = DELETE_TARGET[kind]
            if kind == "SoftDelete" and item.folder == mbx.mb.well_known["recoverableitemsdeletions"]:
                target = "recoverableitemspurges"
            mbx.mb.move(iid, target, mbx.now)
        message(msgs, "DeleteItem")
    return resp


# -- inbox rules -----------------------------------------------------------------------------

def _rules_owner(op: Element, mbx: OnPremMailbox) -> None:
    smtp = text(op, "m:MailboxSmtpAddress")
    if smtp and mbx.tenant.find_user(smtp) is not mbx.user:
        raise SoapFault("ErrorNonExistentMailbox", f"The SMTP address {smtp} has no mailbox associated with it.")


def get_inbox_rules(op: Element, mbx: OnPremMailbox) -> Element:
    _rules_owner(op, mbx)
    resp = rules.single_response("GetInboxRules")
    sub(resp, M, "OutlookRuleBlobExists", "false")
    box = sub(resp, M, "InboxRules")
    with mbx.mb.lock:
        for r in sorted(mbx.mb.rules.values(), key=lambda r: int(r.get("sequence") or 0)):
            rules.rule(box, r)
    return resp


def update_inbox_rules(op: Element, mbx: OnPremMailbox) -> Element:
    _rules_owner(op, mbx)
    ops = [c for c in (op.find("m:Operations", NSMAP) if op.find("m:Operations", NSMAP) is not None else [])
           if isinstance(c.tag, str)]
    missing: list[tuple[int, str]] = []
    with mbx.mb.lock:
        for i, o in enumerate(ops):
            name = o.tag.split("}", 1)[-1]
            if name != "DeleteRuleOperation":
                raise SoapFault("ErrorInvalidOperation", f"{name} is not supported by this server.")
            rid = text(o, "t:RuleId") or ""
            if rid not in mbx.mb.rules:
                missing.append((i, rid))
        if not missing:
            for o in ops:
                del mbx.mb.rules[text(o, "t:RuleId") or ""]
    if missing:
        return rules.validation_error(missing)
    return rules.single_response("UpdateInboxRules")


OPERATIONS: dict[str, Callable[[Element, OnPremMailbox], Element]] = {
    "GetFolder": get_folder, "FindFolder": find_folder, "CreateFolder": create_folder,
    "FindItem": find_item, "GetItem": get_item, "GetAttachment": get_attachment,
    "MoveItem": move_item, "DeleteItem": delete_item,
    "GetInboxRules": get_inbox_rules, "UpdateInboxRules": update_inbox_rules,
}

__all__ = ["OPERATIONS", "OnPremMailbox", "children"]
