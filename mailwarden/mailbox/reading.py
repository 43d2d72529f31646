"""Reading mailboxes: page through messages with only what detection needs, and search them.

A search (:class:`MessageQuery`) goes mailbox-wide (``/users/{id}/messages``: every visible folder,
subfolders included). What Graph can filter server-side (Internet message id, sender, subject) is
sent as ``$filter``, a keyword as ``$search``; every criterion is then checked again locally, so
links, attachment hashes and headers (which Graph cannot filter on) work the same way.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, model_validator

from mailwarden.graph import GraphClient

MESSAGE_SELECT = ",".join((
    "id", "internetMessageId", "parentFolderId", "receivedDateTime", "subject", "from", "sender",
    "replyTo", "toRecipients", "body", "bodyPreview", "internetMessageHeaders", "isRead",
    "hasAttachments",
))  # fmt: skip
"""The ``$select`` of a scan: what :func:`mailwarden.detection.classify` reads (attachments are expanded)."""
MESSAGE_EXPAND = "attachments"
T = TypeVar("T")


def mailbox_path(mailbox_id: str) -> str:
    """``/users/{id}`` with the id URL-quoted."""
    return f"/users/{quote(mailbox_id, safe='@')}"


def _odata_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iter_messages(
    client: GraphClient,
    mailbox_id: str,
    *,
    since: datetime | None = None,
    folder: str | None = None,
    select: str = MESSAGE_SELECT,
    page_size: int = 250,
    expand: str | None = MESSAGE_EXPAND,
    filter: str | None = None,
    search: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Lazily yield a mailbox's messages (all visible folders, or one ``folder`` id / well-known name).

    ``since`` keeps messages received at or after it. ``filter``/``search`` add raw OData options.
    """
    base = mailbox_path(mailbox_id)
    path = f"{base}/mailFolders/{quote(folder, safe='')}/messages" if folder else f"{base}/messages"
    params: dict[str, Any] = {"$top": str(max(1, min(page_size, 1000)))}
    if select:
        params["$select"] = select
    if expand:
        params["$expand"] = expand
    clauses = [f"receivedDateTime ge {_iso(since)}"] if since is not None else []
    if filter:
        clauses.append(filter)
    if search is not None:
        if clauses:
            raise ValueError("$search cannot be combined with $filter (or since)")
        params["$search"] = '"' + search.replace('"', " ") + '"'
    elif clauses:
        params["$filter"] = " and ".join(clauses)
    yield from client.iter_pages(path, params=params)


_END = object()


def read_ahead(items: Iterable[T], chunk: int = 250) -> Generator[T, None, None]:
    """Yield ``items`` while a background thread already reads the next ``chunk`` of them.

    For paged reads (``chunk`` = the page size) the next page's request is in flight while the
    caller works on the current one, so a mailbox's reading time is about ``pages x latency``
    rather than ``pages x (latency + work)``. The reader runs one chunk ahead, never more: two
    chunks are held at most, however long ``items`` is. An error of ``items`` is raised here, in
    the caller's thread; closing this generator early stops the reader.
    """
    size = max(1, chunk)
    handoff: queue.SimpleQueue[Any] = queue.SimpleQueue()
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def reader() -> None:
        it = iter(items)
        try:
            while True:
                block = list(islice(it, size))
                if block:
                    handoff.put(block)
                if len(block) < size:
                    handoff.put(_END)
                    return
                while not taken.acquire(timeout=0.1):  # read on once the caller holds this chunk
                    if stop.is_set():
                        return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            handoff.put(exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=reader, name="mailwarden-read-ahead", daemon=True)
    thread.start()
    try:
        while (got := handoff.get()) is not _END:
            taken.release()
            if isinstance(got, BaseException):
                raise got
            yield from got
        thread.join()
    finally:
        stop.set()  # stopped early: the reader ends after the read under way, without being waited for


class MessageQuery(BaseModel):
    """What to look for; every given criterion must match (AND).

    The one query type of a mailbox search: recall looks up an Internet message id with it, and
    ``threat-response`` takes it (as :class:`mailwarden.response.ThreatQuery`) as its parameter.
    """

    model_config = ConfigDict(frozen=True)

    internet_message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    keyword: str | None = None
    """In the subject or the body (case-insensitive)."""
    link: str | None = None
    """A URL (or part of one) found in the body."""
    attachment_sha256: str | None = None
    header_name: str | None = None
    """With ``header_value``: an Internet header of this name whose value contains ``header_value``."""
    header_value: str | None = None

    @model_validator(mode="after")
    def _header_pair(self) -> MessageQuery:
        if bool(self.header_name) != bool(self.header_value):
            raise ValueError("header_name and header_value go together")
        return self

    @property
    def header(self) -> tuple[str, str] | None:
        """(name, value) of the header criterion, or None."""
        return (self.header_name, self.header_value) if self.header_name and self.header_value else None

    def is_empty(self) -> bool:
        return not any((self.internet_message_id, self.sender, self.subject, self.keyword, self.link,
                        self.attachment_sha256, self.header))

    def describe(self) -> str:
        """A short stable text of the criteria (for scopes and reports): ``name=value; ...`` by name."""
        criteria = {"attachment_sha256": self.attachment_sha256, "header": self.header,
                    "internet_message_id": self.internet_message_id, "keyword": self.keyword,
                    "link": self.link, "sender": self.sender, "subject": self.subject}
        return "; ".join(f"{k}={v}" for k, v in criteria.items() if v)


def _address(obj: Any) -> str:
    if isinstance(obj, dict):
        return str((obj.get("emailAddress") or {}).get("address") or "").lower()
    return ""


def attachment_sha256(attachment: dict[str, Any]) -> str | None:
    """SHA-256 (hex) of a file attachment's decoded ``contentBytes``, if present."""
    raw = attachment.get("contentBytes")
    if not isinstance(raw, str):
        return None
    try:
        return hashlib.sha256(base64.b64decode(raw, validate=False)).hexdigest()
    except (ValueError, TypeError):
        return None


def matches(message: dict[str, Any], query: MessageQuery) -> bool:
    """Whether a message (Graph JSON) satisfies every criterion of ``query``."""
    if query.internet_message_id and message.get("internetMessageId") != query.internet_message_id:
        return False
    if query.sender:
        want = query.sender.lower()
        if want not in (_address(message.get("from")), _address(message.get("sender"))):
            return False
    subject = str(message.get("subject") or "")
    if query.subject and query.subject.lower() not in subject.lower():
        return False
    body = str((message.get("body") or {}).get("content") or message.get("bodyPreview") or "")
    if query.keyword and query.keyword.lower() not in (subject + "\n" + body).lower():
        return False
    if query.link and query.link.lower() not in body.lower():
        return False
    if query.attachment_sha256:
        want = query.attachment_sha256.lower()
        atts = message.get("attachments") or []
        if not any(isinstance(a, dict) and attachment_sha256(a) == want for a in atts):
            return False
    if query.header:
        name, value = query.header[0].lower(), query.header[1].lower()
        hdrs = message.get("internetMessageHeaders") or []
        if not any(isinstance(h, dict) and str(h.get("name", "")).lower() == name
                   and value in str(h.get("value", "")).lower() for h in hdrs):
            return False
    return True


def find_messages(client: GraphClient, mailbox_id: str, query: MessageQuery) -> list[dict[str, Any]]:
    """Every message of a mailbox (any visible folder, subfolders too) matching ``query``."""
    if query.is_empty():
        raise ValueError("a message query needs at least one criterion")
    filt: str | None = None
    search: str | None = None
    if query.internet_message_id:
        filt = f"internetMessageId eq {_odata_literal(query.internet_message_id)}"
    elif query.sender:
        filt = f"from/emailAddress/address eq {_odata_literal(query.sender.lower())}"
    elif query.keyword:
        search = query.keyword
    needs_attachments = bool(query.attachment_sha256)
    return [
        m for m in iter_messages(client, mailbox_id, filter=filt, search=search,
                                 expand=MESSAGE_EXPAND if needs_attachments else None)
        if matches(m, query)
    ]


def find_by_internet_message_id(client: GraphClient, mailbox_id: str, internet_message_id: str) -> list[dict[str, Any]]:
    """The copies of one Internet message id in a mailbox (any visible folder)."""
    return find_messages(client, mailbox_id, MessageQuery(internet_message_id=internet_message_id))


def folder_names(client: GraphClient, mailbox_id: str) -> dict[str, str]:
    """Folder id -> path of display names (``Inbox/Projects``) for every visible folder."""
    base = mailbox_path(mailbox_id)
    out: dict[str, str] = {}
    todo: list[tuple[str, str]] = [(f"{base}/mailFolders", "")]
    while todo:
        path, prefix = todo.pop()
        for f in client.iter_pages(path, params={"$top": "100"}):
            fid, name = str(f.get("id")), prefix + str(f.get("displayName") or "")
            out[fid] = name
            if f.get("childFolderCount"):
                todo.append((f"{base}/mailFolders/{quote(fid, safe='')}/childFolders", name + "/"))
    return out
