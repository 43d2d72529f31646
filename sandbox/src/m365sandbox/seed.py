"""The data a generated sandbox tenant starts from.

The generator (``m365sandbox.generator``) produces a :class:`TenantSeed`; the sandbox
loads it into live, mutable state. Everything here is shaped like Microsoft's own resources:
Graph JSON for users, groups, messages and message rules (property names from the published
v1.0 schema), Exchange cmdlet output for recipients, hidden inbox rules and mailbox forwarding.

:class:`GroundTruth` records what is malicious. Tests and benchmarks read it; the product never
does (it only ever talks to the sandbox over HTTP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass
class FolderSeed:
    """A mail folder: a Graph ``mailFolder`` (``id``, ``displayName``, ``parentFolderId`` ...)
    and the well-known name it answers to (``inbox``, ``sentitems``, ``deleteditems``,
    ``junkemail``, ``archive``, ``drafts``, ``outbox``, ``conversationhistory``, ...) or None."""

    folder: Json
    well_known_name: str | None = None


@dataclass
class MailboxSeed:
    """One mailbox's content, keyed in :attr:`TenantSeed.mailboxes` by the owner's object id.

    ``messages`` are Graph ``message`` resources, each with ``parentFolderId`` naming a folder
    of ``folders``; attachments are Graph ``fileAttachment`` resources (with ``contentBytes``)
    under the key ``attachments`` of their message. ``rules`` are Graph ``messageRule``
    resources of the inbox. ``hidden_rules`` are Exchange ``Get-InboxRule`` objects that only
    ``-IncludeHidden`` shows (Graph never lists them).
    """

    folders: list[FolderSeed] = field(default_factory=list)
    messages: list[Json] = field(default_factory=list)
    rules: list[Json] = field(default_factory=list)
    hidden_rules: list[Json] = field(default_factory=list)


@dataclass
class GroundTruth:
    """What the generator planted. For tests and benchmarks only."""

    malicious_message_ids: set[str] = field(default_factory=set)
    """Graph ids of planted phishing/malware messages (their original ids at generation)."""
    malicious_internet_message_ids: set[str] = field(default_factory=set)
    benign_message_ids: set[str] = field(default_factory=set)
    malicious_rules: set[tuple[str, str]] = field(default_factory=set)
    """(mailbox object id, rule id or hidden rule Identity) of planted malicious rules."""
    benign_rules: set[tuple[str, str]] = field(default_factory=set)
    external_forwarding: dict[str, str] = field(default_factory=dict)
    """mailbox object id -> external address set as mailbox-level forwarding."""
    protected_mailboxes: set[str] = field(default_factory=set)
    """Object ids that count as licensed, protected mailboxes under the default policy:
    enabled member users with a UserMailbox (no shared, room, guest or disabled)."""
    executives: set[str] = field(default_factory=set)
    labels: dict[str, str] = field(default_factory=dict)
    """Graph message id -> original corpus label ("phishing"/"legitimate") for real mail."""
    campaigns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """internetMessageId of a phishing message planted in several mailboxes -> its copies as
    (mailbox object id, Graph message id); some copies sit in a user subfolder."""
    recall_fixtures: list[dict[str, Any]] = field(default_factory=list)
    """Internal mail for recall tests: ``sender``, ``internet_message_id``, ``sent_message_id``,
    ``group_id``, ``addresses`` (as sent), ``external``, ``copies`` [(mailbox, message id)],
    ``moved`` (mailbox, message id, folder id), ``forwarded`` {mailbox, message_id,
    internet_message_id, by, sent_message_id}."""


@dataclass
class TenantSeed:
    """Everything a sandbox tenant starts with."""

    tenant_id: str
    domain: str
    display_name: str
    cloud: str = "global"
    organization: Json = field(default_factory=dict)
    users: list[Json] = field(default_factory=list)
    """Graph ``user`` resources, with ``proxyAddresses``, ``accountEnabled``,
    ``assignedLicenses``, ``userType``, ``mail``, ``userPrincipalName``, ``jobTitle`` ..."""
    groups: list[Json] = field(default_factory=list)
    """Graph ``group`` resources (``groupTypes``, ``mailEnabled``, ``securityEnabled``, ``mail``,
    ``proxyAddresses``)."""
    members: dict[str, list[str]] = field(default_factory=dict)
    """group id -> direct member object ids (users or groups: groups nest)."""
    skus: list[Json] = field(default_factory=list)
    """Graph ``subscribedSku`` resources."""
    recipients: dict[str, Json] = field(default_factory=dict)
    """object id -> Exchange ``Get-Mailbox``/``Get-Recipient`` fields: ``RecipientTypeDetails``
    (UserMailbox, SharedMailbox, RoomMailbox, EquipmentMailbox, MailUser, GuestMailUser,
    MailUniversalDistributionGroup, GroupMailbox ...), ``PrimarySmtpAddress``,
    ``EmailAddresses``, ``ForwardingSmtpAddress``, ``DeliverToMailboxAndForward`` ..."""
    mailboxes: dict[str, MailboxSeed] = field(default_factory=dict)
    truth: GroundTruth = field(default_factory=GroundTruth)
    role_members: dict[str, list[str]] = field(default_factory=dict)
    """Directory role display name (e.g. ``Global Administrator``) -> direct member ids (users, or
    role-assignable groups)."""
