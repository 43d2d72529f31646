"""Mailbox operations over Graph: read/scan messages, search copies, act on them (audited).

No Prefect here: flows ``historic-scan``, ``threat-response`` and ``restore`` build on this.
"""

from mailwarden.mailbox.actions import (
    ACTIONS,
    QUARANTINE_FOLDER,
    RESTORABLE,
    Action,
    ActionOutcome,
    action_key,
    apply_message_action,
    ensure_quarantine_folder,
    restore_action,
)
from mailwarden.mailbox.reading import (
    MESSAGE_SELECT,
    MessageQuery,
    attachment_sha256,
    find_by_internet_message_id,
    find_messages,
    folder_names,
    iter_messages,
    mailbox_path,
    matches,
)

__all__ = [
    "ACTIONS",
    "MESSAGE_SELECT",
    "QUARANTINE_FOLDER",
    "RESTORABLE",
    "Action",
    "ActionOutcome",
    "MessageQuery",
    "action_key",
    "apply_message_action",
    "attachment_sha256",
    "ensure_quarantine_folder",
    "find_by_internet_message_id",
    "find_messages",
    "folder_names",
    "iter_messages",
    "mailbox_path",
    "matches",
    "restore_action",
]
