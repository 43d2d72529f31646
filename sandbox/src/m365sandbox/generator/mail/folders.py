"""A generated mailbox's folders: the well-known ones and a few a user makes."""

from __future__ import annotations

import random

from m365sandbox.generator.common import exchange_id
from m365sandbox.seed import FolderSeed, MailboxSeed

WELL_KNOWN_FOLDERS = (
    ("msgfolderroot", "Top of Information Store", None),
    ("inbox", "Inbox", "msgfolderroot"),
    ("drafts", "Drafts", "msgfolderroot"),
    ("sentitems", "Sent Items", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "msgfolderroot"),
    ("junkemail", "Junk Email", "msgfolderroot"),
    ("archive", "Archive", "msgfolderroot"),
    ("outbox", "Outbox", "msgfolderroot"),
    ("conversationhistory", "Conversation History", "msgfolderroot"),
)
"""(well-known name, displayName, parent's well-known name)."""
USER_FOLDERS = (
    ("rss feeds", "RSS Feeds", "msgfolderroot"),
    ("newsletters", "Newsletters", "inbox"),
    ("projects", "Projects", "inbox"),
    ("receipts", "Receipts", "inbox"),
)
"""(lower-case name, displayName, parent's well-known name) of the folders users make."""


def ensure_folders(rng: random.Random, mb: MailboxSeed) -> dict[str, str]:
    """Create the mailbox's folders once; return well-known / lower-case display name -> folder id."""
    if not mb.folders:
        key = rng.randbytes(16)
        ids: dict[str, str] = {}
        for name, display, parent in WELL_KNOWN_FOLDERS + USER_FOLDERS:
            ids[name] = exchange_id(rng, key, b"\x01\x00")
            folder = {
                "id": ids[name],
                "displayName": display,
                "parentFolderId": ids[parent] if parent else None,
                "isHidden": False,
            }
            mb.folders.append(
                FolderSeed(folder, None if name in dict.fromkeys(n for n, _, _ in USER_FOLDERS) else name)
            )
    return {fs.well_known_name or fs.folder["displayName"].lower(): fs.folder["id"] for fs in mb.folders}
