"""Searching for a threat: what names it (:class:`ThreatQuery`), its copies in one mailbox, and
the search of every mailbox a run covers (:class:`ThreatSearch`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import model_validator

from mailwarden.graph import Forbidden, NotFound
from mailwarden.mailbox import MessageQuery
from mailwarden.mailbox.access import SIDE_LABEL, MailboxAccess, OnPremUnavailable

ResponseAction = Literal["quarantine", "move_to_junk", "soft_delete", "hard_delete"]
UNREADABLE = (NotFound, Forbidden, OnPremUnavailable)
"""A mailbox that fails so is reported as a search error; the rest of the tenant is still searched."""


class ThreatQuery(MessageQuery):
    """What identifies the threat; every given field must match (at least one must be given)."""

    @model_validator(mode="after")
    def _names_something(self) -> ThreatQuery:
        if self.is_empty():
            raise ValueError("give at least one search criterion")
        return self


def default_scope(query: MessageQuery) -> str:
    """The idempotency scope of a response to ``query``: the same query never acts twice."""
    return "threat:" + hashlib.sha256(query.describe().encode()).hexdigest()[:24]


@dataclass
class Copy:
    """One copy of the threat: where it is and whether it was read."""

    mailbox: str
    id: str
    internet_message_id: str | None
    parent_folder_id: str | None
    folder: str
    is_read: bool
    subject: str | None
    received: str | None
    side: str = "cloud"

    def message(self) -> dict[str, Any]:
        """The copy as the message an action takes (Graph names)."""
        return {"id": self.id, "internetMessageId": self.internet_message_id, "parentFolderId": self.parent_folder_id}

    def preview_row(self, address: str) -> dict[str, Any]:
        return {"address": address, "mailbox": self.mailbox, "side": self.side, "folder": self.folder,
                "isRead": self.is_read, "subject": self.subject, "receivedDateTime": self.received,
                "internetMessageId": self.internet_message_id}


@dataclass
class MailboxSearch:
    """The copies found in one mailbox, or why it could not be searched."""

    mailbox: str
    side: str = "cloud"
    copies: list[Copy] = field(default_factory=list)
    error: str | None = None

    def row(self) -> dict[str, Any]:
        return asdict(self)


def search_mailbox(mailbox: MailboxAccess, query: MessageQuery) -> MailboxSearch:
    """Every copy matching ``query`` in one mailbox (any folder), with folder path and read state."""
    side = SIDE_LABEL[mailbox.location]
    try:
        found = mailbox.find_messages(query)
        names = mailbox.folder_names() if found else {}
    except UNREADABLE as exc:
        return MailboxSearch(mailbox.mailbox_id, side, error=f"{type(exc).__name__}: {exc}"[:300])
    copies = [Copy(mailbox.mailbox_id, str(m["id"]), m.get("internetMessageId"), m.get("parentFolderId"),
                   names.get(str(m.get("parentFolderId")), str(m.get("parentFolderId"))), bool(m.get("isRead")),
                   m.get("subject"), m.get("receivedDateTime"), side) for m in found]
    return MailboxSearch(mailbox.mailbox_id, side, copies)


@dataclass
class ThreatSearch:
    """The search of every mailbox of a run."""

    query: str
    """The query's description."""
    searched: list[MailboxSearch]

    @property
    def copies(self) -> list[Copy]:
        return [c for m in self.searched for c in m.copies]

    @property
    def errors(self) -> dict[str, str]:
        """Mailbox -> why it could not be searched."""
        return {m.mailbox: m.error for m in self.searched if m.error}

    def mailboxes_with_copies(self) -> list[str]:
        return sorted({c.mailbox for c in self.copies})

    def preview_rows(self, addresses: dict[str, str]) -> list[dict[str, Any]]:
        """One row per copy, the mailbox's address first."""
        return [c.preview_row(addresses.get(c.mailbox, c.mailbox)) for c in self.copies] \
            or [{"address": "(no copies found)"}]

    def preview_text(self) -> str:
        return f"{len(self.copies)} copies in {len(self.mailboxes_with_copies())} mailboxes for: {self.query}"


def by_mailbox(copies: Iterable[Copy], keep: Iterable[str] | None = None) -> dict[str, list[Copy]]:
    """Copies per mailbox (sorted by mailbox), only of the ``keep`` mailboxes when given."""
    wanted = set(keep) if keep is not None else None
    out: dict[str, list[Copy]] = {}
    for c in copies:
        if wanted is None or c.mailbox in wanted:
            out.setdefault(c.mailbox, []).append(c)
    return dict(sorted(out.items()))
