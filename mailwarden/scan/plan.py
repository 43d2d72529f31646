"""Planning a historic scan: which mailboxes, what detection knows of the tenant, what is done already.

:class:`Targets` is the protected-mailbox list a run covers (the scan, threat response): the
people and shared mailboxes of the address book, or the ones the operator named, with their
addresses for reports and the side each lives on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from mailwarden.detection import DetectionContext
from mailwarden.directory import AddressBook
from mailwarden.mailbox.access import MailboxRouter
from mailwarden.scan.policy import ScanPolicy, folder_key
from mailwarden.store.repositories import create_scan_run, ensure_checkpoints, get_checkpoint


@dataclass
class Targets:
    """The mailboxes of a run, sorted, with their addresses and the on-premises ones' sides."""

    mailboxes: list[str]
    addresses: dict[str, str] = field(default_factory=dict)
    """Mailbox id -> address (from the address book), for reports."""
    sides: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Mailbox id -> ``("onprem", primary SMTP)`` of the on-premises mailboxes (read through EWS)."""

    @classmethod
    def of(cls, book: AddressBook, named: list[str] | None, domain: str) -> Targets:
        """The protected mailboxes of ``book`` (:meth:`AddressBook.protected_mailboxes`), or the
        ``named`` ones (ids or addresses; ValueError for one that is not a mailbox of ``domain``)."""
        mailboxes = book.mailboxes_named(named, domain) if named else book.protected_mailboxes()
        return cls(mailboxes, book.addresses_of(mailboxes), MailboxRouter.from_book(None, book).onprem_mailboxes())

    def where(self, mailbox_id: str) -> tuple[str, str] | None:
        """The mailbox's side for its task: ``("onprem", smtp)``, or None for a cloud mailbox."""
        return self.sides.get(mailbox_id)


@dataclass
class ScanPlan:
    """What a scan covers and where it stands."""

    scan_id: str
    tenant_id: str
    since: datetime
    folders: list[str] | None
    targets: Targets
    done_before: list[str]
    """Mailboxes a run of this scan finished already (they are not read again)."""
    context: DetectionContext

    @property
    def mailboxes(self) -> list[str]:
        return self.targets.mailboxes

    @property
    def addresses(self) -> dict[str, str]:
        return self.targets.addresses

    def where(self, mailbox_id: str) -> tuple[str, str] | None:
        return self.targets.where(mailbox_id)

    def begin_run(self, session: Session, policy: ScanPolicy, flow_run_id: str | None) -> str:
        """Record a run of this scan (``scan_runs``, status ``running``); the run record's id."""
        return str(create_scan_run(session, self.tenant_id, "historic", flow_run_id=flow_run_id, parameters={
            "scan_id": self.scan_id, "since": self.since.isoformat(), "folders": self.folders,
            "mailboxes": len(self.mailboxes), "policy": policy.model_dump(mode="json")}).id)


def plan_scan(session: Session, *, tenant_id: str, domain: str, scan_id: str, since: datetime,
              mailboxes: list[str] | None, folders: list[str] | None) -> ScanPlan:
    """Resolve the mailboxes (:meth:`Targets.of`), build the detection context, create the
    checkpoints (not committed). LookupError without an address book."""
    book = AddressBook.load(session, tenant_id)
    targets = Targets.of(book, mailboxes, domain)
    key = folder_key(folders)
    ensure_checkpoints(session, tenant_id, scan_id, [(m, key) for m in targets.mailboxes])
    done = [m for m in targets.mailboxes
            if (cp := get_checkpoint(session, tenant_id, scan_id, m, key)) and cp.state == "done"]
    return ScanPlan(scan_id=scan_id, tenant_id=tenant_id, since=since, folders=folders, targets=targets,
                    done_before=done, context=DetectionContext(**book.detection_context_kwargs()))
