"""Planning a recall: check the sender, find the sent message, expand its recipients.

Nothing here acts on mail. A :class:`RecallPlan` is the sent message with its expanded
recipients (or the reason there is nothing to recall); a :class:`Forward` the same for a
recipient's internal forward of it. :func:`check_sender` and :func:`find_sent_message` turn bad input
into a :class:`RecallRejected` (a clear reason, no action); :func:`expand_recipients` resolves
To/Cc/Bcc through the tenant's :class:`~mailwarden.directory.AddressBook` (aliases to mailboxes,
distribution lists and groups to their members through nested groups, outside addresses kept
as external).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mailwarden.directory import AddressBook, normalize_address
from mailwarden.graph import GraphClient
from mailwarden.mailbox import iter_messages
from mailwarden.mailbox.access import SIDE_LABEL, MailboxAccess
from mailwarden.recall.act import RecipientResult
from mailwarden.recall.report import external_results

RECALL_ACTIONS: tuple[str, ...] = ("quarantine", "soft_delete", "hard_delete")
SENT_SELECT = ",".join((
    "id", "internetMessageId", "subject", "from", "sender", "toRecipients", "ccRecipients",
    "bccRecipients", "sentDateTime", "receivedDateTime", "parentFolderId", "internetMessageHeaders",
))  # fmt: skip
"""What a recall reads of a sent message (recipients and the ids that link forwards)."""
FORWARD_PREFIXES = ("fw:", "fwd:")


class RecallRejected(Exception):
    """Input that cannot be recalled: the reason is the report, nothing was touched."""


@dataclass(frozen=True)
class MessageRef:
    """Which sent message: its Internet message id, or its subject and sent time (± tolerance)."""

    internet_message_id: str | None = None
    subject: str | None = None
    sent_at: datetime | None = None
    tolerance: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if not self.internet_message_id and not (self.subject and self.sent_at):
            raise ValueError("give the internet_message_id, or the subject and the sent time")
        if self.tolerance < timedelta(0):
            raise ValueError("tolerance must not be negative")

    def describe(self) -> str:
        if self.internet_message_id:
            return f"internetMessageId {self.internet_message_id}"
        return f"subject {self.subject!r} sent {_utc(self.sent_at).isoformat()} ± {self.tolerance}"  # type: ignore[arg-type]


@dataclass
class Target:
    """One mailbox to recall from, with every recipient address that reached it."""

    mailbox_id: str
    address: str
    """The mailbox's primary address."""
    via: list[str] = field(default_factory=list)
    """How it was reached: ``to:addr``, ``cc:dl@x (group)``, ``forward by a@x`` ..."""
    where: tuple[str, str] | None = None
    """``("onprem", primary SMTP)`` for a mailbox on an on-premises Exchange (read through EWS), else None."""

    @property
    def side(self) -> str:
        """``cloud`` or ``on-premises``, as the report says it."""
        return SIDE_LABEL["onprem" if self.where and self.where[0] == "onprem" else "cloud"]

    def via_text(self) -> str:
        return "; ".join(self.via)


@dataclass
class Expansion:
    """The recipients of a message sorted into mailboxes to recall from and the rest."""

    targets: dict[str, Target] = field(default_factory=dict)
    external: list[tuple[str, str]] = field(default_factory=list)
    """(address, field) outside the tenant: not recallable."""
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    """(address, field) on a tenant domain that reaches no mailbox (empty group, unknown alias)."""

    def locate(self, sides: dict[str, tuple[str, str]]) -> Expansion:
        """Mark the targets on an on-premises Exchange (``sides``: mailbox id -> ``("onprem", smtp)``)."""
        for mailbox_id, target in self.targets.items():
            target.where = sides.get(mailbox_id)
        return self


@dataclass
class RecallPlan:
    """What a recall acts on: the sender's sent message and its expanded recipients, or why nothing."""

    sender_mailbox: str = ""
    sent: dict[str, Any] = field(default_factory=dict)
    """The message in the sender's Sent Items (as Graph or EWS gave it)."""
    expansion: Expansion = field(default_factory=Expansion)
    rejected: str | None = None
    """Why nothing can be recalled (bad input); None for a plan to carry out."""

    @classmethod
    def refused(cls, reason: str) -> RecallPlan:
        return cls(rejected=reason)

    @property
    def internet_message_id(self) -> str:
        return str(self.sent.get("internetMessageId") or "")

    @property
    def subject(self) -> str:
        return str(self.sent.get("subject") or "")

    @property
    def targets(self) -> list[Target]:
        """The internal mailboxes to recall from."""
        return list(self.expansion.targets.values())

    def planned(self) -> list[RecipientResult]:
        """One ``planned`` row per mailbox, for the approver."""
        return [RecipientResult(recipient=t.address, mailbox_id=t.mailbox_id, status="planned", via=t.via_text(),
                                internet_message_id=self.internet_message_id, side=t.side) for t in self.targets]

    def unreachable(self) -> list[RecipientResult]:
        """Rows of the recipients no recall reaches: outside the tenant, or no mailbox behind the address."""
        imid = self.internet_message_id
        return [*external_results(self.expansion.external, imid),
                *(RecipientResult(recipient=a, mailbox_id=None, status="unresolved", via=via,
                                  internet_message_id=imid) for a, via in self.expansion.unresolved)]


@dataclass
class Forward:
    """A recipient's forward of the recalled message, with its own expanded recipients."""

    by: str
    """The forwarding recipient's address."""
    by_mailbox: str
    internet_message_id: str
    subject: str
    expansion: Expansion

    @property
    def targets(self) -> list[Target]:
        return list(self.expansion.targets.values())

    def left_tenant(self) -> list[RecipientResult]:
        """Rows of the forward's recipients outside the tenant (not recallable)."""
        return [RecipientResult(recipient=a, mailbox_id=None, status="external", via=via,
                                internet_message_id=self.internet_message_id,
                                detail=f"forward by {self.by} left the tenant") for a, via in self.expansion.external]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return _utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def check_sender(book: AddressBook, sender: str) -> str:
    """The sender's mailbox id; :class:`RecallRejected` unless it is a mailbox of this tenant."""
    address = normalize_address(sender or "")
    if "@" not in address:
        raise RecallRejected(f"sender {sender!r} is not a mail address")
    if not book.is_internal(address):
        raise RecallRejected(f"sender {address} is not an address of this tenant: only internal mail can be recalled")
    mailbox = book.mailbox_of(address)
    if mailbox is None:
        raise RecallRejected(f"sender {address} is not a mailbox of this tenant (a group, unknown or ambiguous)")
    return mailbox


def _subject_key(subject: str) -> str:
    return " ".join(str(subject or "").split()).lower()


def find_sent_message(client: GraphClient | MailboxAccess, sender_mailbox: str, ref: MessageRef) -> dict[str, Any]:
    """The message in the sender's Sent Items matching ``ref``; :class:`RecallRejected` if none."""
    if ref.internet_message_id:
        flt = "internetMessageId eq '" + ref.internet_message_id.replace("'", "''") + "'"
        found = [m for m in _sent_items(client, sender_mailbox, filter=flt)
                 if m.get("internetMessageId") == ref.internet_message_id]
    else:
        assert ref.sent_at is not None and ref.subject is not None
        at, want = _utc(ref.sent_at), _subject_key(ref.subject)
        since = at - ref.tolerance - timedelta(minutes=5)  # received after sent: keep a margin
        found = []
        for m in _sent_items(client, sender_mailbox, since=since):
            when = _parse_time(m.get("sentDateTime")) or _parse_time(m.get("receivedDateTime"))
            if _subject_key(str(m.get("subject"))) == want and when is not None \
                    and abs(when - at) <= ref.tolerance:
                found.append(m)
    if not found:
        raise RecallRejected(f"no sent message matches {ref.describe()} in the sender's Sent Items")
    if len({m.get("internetMessageId") for m in found}) > 1:
        ids = ", ".join(sorted(str(m.get("internetMessageId")) for m in found))
        raise RecallRejected(f"several sent messages match {ref.describe()}: give the internet_message_id ({ids})")
    return found[0]


def recipients_of(message: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(address, field) of every To, Cc and Bcc recipient, lower-cased, each once."""
    seen: set[str] = set()
    for fld, key in (("to", "toRecipients"), ("cc", "ccRecipients"), ("bcc", "bccRecipients")):
        for r in message.get(key) or []:
            addr = normalize_address(str(((r or {}).get("emailAddress") or {}).get("address") or ""))
            if addr and "@" in addr and addr not in seen:
                seen.add(addr)
                yield addr, fld


def expand_recipients(book: AddressBook, recipients: Iterable[tuple[str, str]], *,
                      exclude: Iterable[str] = (), via_prefix: str = "",
                      into: Expansion | None = None) -> Expansion:
    """Resolve recipients to mailboxes through the address book (aliases, nested groups).

    ``exclude`` mailbox ids are skipped (the sender). Adds to ``into`` when given.
    """
    out = into or Expansion()
    skip = set(exclude)
    groups = set(book.objects.index[book.objects["kind"].eq("group")])
    for addr, fld in recipients:
        if not book.is_internal(addr):
            out.external.append((addr, via_prefix + fld))
            continue
        mailboxes = book.resolve(addr)
        owners = book.owners(addr)
        kind = "group" if any(o in groups for o in owners) else \
            ("alias" if mailboxes and all(book.objects.at[m, "primary_address"] != addr for m in mailboxes)
             else "")
        label = f"{via_prefix}{fld}:{addr}" + (f" ({kind})" if kind else "")
        if not mailboxes:
            out.unresolved.append((addr, via_prefix + fld))
        for mbx in sorted(mailboxes - skip):
            target = out.targets.get(mbx)
            if target is None:
                primary = str(book.objects.at[mbx, "primary_address"]) if mbx in book.objects.index else mbx
                target = out.targets[mbx] = Target(mbx, primary)
            if label not in target.via:
                target.via.append(label)
    return out


def is_forward_of(candidate: dict[str, Any], original: dict[str, Any]) -> bool:
    """Whether a sent message forwards ``original``: headers reference its id, or "FW: <subject>"."""
    imid = str(original.get("internetMessageId") or "")
    if candidate.get("internetMessageId") and candidate.get("internetMessageId") == imid:
        return False
    for h in candidate.get("internetMessageHeaders") or []:
        name = str((h or {}).get("name", "")).lower()
        if imid and name in ("in-reply-to", "references") and imid in str(h.get("value", "")):
            return True
    subject = _subject_key(str(candidate.get("subject") or ""))
    want = _subject_key(str(original.get("subject") or ""))
    for prefix in FORWARD_PREFIXES:
        if want and subject.startswith(prefix) and subject[len(prefix):].strip() == want:
            return True
    return False


def find_forwards(client: GraphClient | MailboxAccess, mailbox_id: str,
                  original: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages in a mailbox's Sent Items that forward ``original`` (sent after it)."""
    since = _parse_time(original.get("sentDateTime")) or _parse_time(original.get("receivedDateTime"))
    return [m for m in _sent_items(client, mailbox_id, since=since) if is_forward_of(m, original)]


def _sent_items(client: GraphClient | MailboxAccess, mailbox_id: str, *, since: datetime | None = None,
                filter: str | None = None) -> Iterator[dict[str, Any]]:
    """Sent Items of a mailbox: through Graph (``filter`` applied there), or a mailbox access (any side)."""
    if isinstance(client, MailboxAccess):
        return client.iter_messages(since=since, folder="sentitems")
    return iter_messages(client, mailbox_id, folder="sentitems", select=SENT_SELECT, expand=None,
                         since=since, filter=filter)
