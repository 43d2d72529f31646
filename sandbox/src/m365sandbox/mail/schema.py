"""Names from Microsoft's Graph v1.0 schema that the mail emulation serves, and helpers that
make Exchange-looking ids, change keys and timestamps."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime

MESSAGE_DEFAULT = (
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "isRead", "isDraft", "webLink", "inferenceClassification", "body",
    "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
)
"""Graph's default property set for a message, in Graph's order."""
MESSAGE_PROPERTIES = frozenset(MESSAGE_DEFAULT) | {"internetMessageHeaders", "uniqueBody"}
"""Every structural property of ``microsoft.graph.message`` the sandbox can emit."""
MESSAGE_WRITABLE = frozenset({"isRead", "categories", "flag", "importance", "inferenceClassification",
                              "isDeliveryReceiptRequested", "isReadReceiptRequested"})
"""Properties a PATCH may change on a received (non-draft) message."""
FOLDER_PROPERTIES = ("id", "displayName", "parentFolderId", "childFolderCount", "unreadItemCount",
                     "totalItemCount", "isHidden")
MAILBOX_SETTINGS_PROPERTIES = (
    "archiveFolder", "automaticRepliesSetting", "timeZone", "language", "workingHours", "userPurpose",
    "dateFormat", "timeFormat", "delegateMeetingMessageDeliveryOptions")
"""The structural properties of the ``mailboxSettings`` complex type, in the order Graph sends them."""
USER_PURPOSE = {"UserMailbox": "user", "LinkedMailbox": "linked", "SharedMailbox": "shared",
                "RoomMailbox": "room", "EquipmentMailbox": "equipment"}
"""Exchange RecipientTypeDetails -> ``userPurpose`` (anything else is ``others``)."""
TIME_ZONES = {"US": "Pacific Standard Time", "CA": "Eastern Standard Time", "GB": "GMT Standard Time",
              "IE": "GMT Standard Time", "DE": "W. Europe Standard Time", "NL": "W. Europe Standard Time",
              "FR": "Romance Standard Time", "ES": "Romance Standard Time",
              "AU": "AUS Eastern Standard Time"}
"""A mailbox's default time zone (Windows names, Exchange's default format) by the user's country."""
LOCALES = {"en-US": "English (United States)", "en-GB": "English (United Kingdom)",
           "de-DE": "German (Germany)", "fr-FR": "French (France)", "es-ES": "Spanish (Spain)",
           "nl-NL": "Dutch (Netherlands)", "en-AU": "English (Australia)", "en-CA": "English (Canada)"}
RULE_PROPERTIES = frozenset({"id", "displayName", "sequence", "isEnabled", "hasError", "isReadOnly",
                             "conditions", "exceptions", "actions"})
RULE_PREDICATES = frozenset({
    "bodyContains", "bodyOrSubjectContains", "categories", "fromAddresses", "hasAttachments",
    "headerContains", "importance", "isApprovalRequest", "isAutomaticForward", "isAutomaticReply",
    "isEncrypted", "isMeetingRequest", "isMeetingResponse", "isNonDeliveryReport",
    "isPermissionControlled", "isReadReceipt", "isSigned", "isVoicemail", "messageActionFlag",
    "notSentToMe", "recipientContains", "senderContains", "sensitivity", "sentCcMe", "sentOnlyToMe",
    "sentToAddresses", "sentToMe", "sentToOrCcMe", "subjectContains", "withinSizeRange"})
"""Properties of ``messageRulePredicates`` (rule conditions and exceptions)."""
RULE_ACTIONS = frozenset({
    "assignCategories", "copyToFolder", "delete", "forwardAsAttachmentTo", "forwardTo", "markAsRead",
    "markImportance", "moveToFolder", "permanentDelete", "redirectTo", "stopProcessingRules"})
"""Properties of ``messageRuleActions``."""
ATTACHMENT_PROPERTIES = ("id", "lastModifiedDateTime", "name", "contentType", "size", "isInline",
                         "contentId", "contentLocation", "contentBytes")
"""Properties of ``microsoft.graph.fileAttachment`` (with its base ``attachment``)."""

WELL_KNOWN: dict[str, tuple[str, str | None, bool]] = {
    # name: (displayName, parent well-known name, isHidden)
    "msgfolderroot": ("Top of Information Store", None, False),
    "inbox": ("Inbox", "msgfolderroot", False),
    "drafts": ("Drafts", "msgfolderroot", False),
    "sentitems": ("Sent Items", "msgfolderroot", False),
    "deleteditems": ("Deleted Items", "msgfolderroot", False),
    "junkemail": ("Junk Email", "msgfolderroot", False),
    "archive": ("Archive", "msgfolderroot", False),
    "outbox": ("Outbox", "msgfolderroot", False),
    "conversationhistory": ("Conversation History", "msgfolderroot", False),
    "clutter": ("Clutter", "msgfolderroot", True),
    "recoverableitemsroot": ("Recoverable Items", None, True),
    "recoverableitemsdeletions": ("Deletions", "recoverableitemsroot", True),
    "recoverableitemspurges": ("Purges", "recoverableitemsroot", True),
}
"""Well-known folder names Graph accepts in place of a folder id."""
DUMPSTER = frozenset({"recoverableitemsroot", "recoverableitemsdeletions", "recoverableitemspurges"})
"""Folders outside the visible tree: not in ``/mailFolders`` nor in ``/messages``."""


def iso(ts: float) -> str:
    """Graph's DateTimeOffset text (UTC, seconds) for a POSIX timestamp."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float:
    """POSIX seconds for a DateTimeOffset text (0.0 when missing or unreadable)."""
    if not text:
        return 0.0
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def mailbox_key() -> bytes:
    """16 random bytes that stand for one mailbox inside its item ids."""
    return os.urandom(16)


def item_id(key: bytes, kind: bytes = b"\x07\x00") -> str:
    """An Exchange-style REST id (``AAMkAD...``, base64url) for a message or folder."""
    raw = b"\x00\x03\x24\x00" + key + b"\x00\x46\x00\x00\x00\x00" + kind + os.urandom(22)
    return base64.urlsafe_b64encode(raw).decode()


def change_key() -> str:
    """A fresh change key (``CQAAABYAAA...``); it changes whenever the item does."""
    return base64.b64encode(b"\x09\x00\x00\x00\x16\x00\x00\x00" + os.urandom(12)).decode()


def stable_change_key(item: str) -> str:
    """The change key of an item nobody has changed yet (derived from its id)."""
    digest = hashlib.sha256(item.encode()).digest()[:12]
    return base64.b64encode(b"\x09\x00\x00\x00\x16\x00\x00\x00" + digest).decode()


def rule_id() -> str:
    """An Exchange rule id (``AQAAAJ5dZqA=``): 8 bytes, base64, never containing ``/`` or ``+``."""
    while True:
        rid = base64.b64encode(b"\x01\x00\x00\x00" + os.urandom(4)).decode()
        if "/" not in rid and "+" not in rid:
            return rid
