"""Which side each mailbox lives on, and its :class:`~mailwarden.mailbox.access.MailboxAccess`, for tasks.

Flows look the sides up once (:func:`mailbox_sides`, from the address book, or a plan's
``sides``) and hand each per-mailbox task its mailbox's ``where`` (``("onprem", smtp)`` or None
for the cloud): a small, serialisable value, so the task builds its access in whichever process
runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blocks.m365 import M365Tenant
from mailwarden.mailbox.access import SIDE_LABEL, MailboxAccess, MailboxRouter
from tasks.common import store_for

Where = tuple[str, str] | None


def mailbox_sides(block: M365Tenant) -> dict[str, tuple[str, str]]:
    """Mailbox object id -> ("onprem", primary SMTP) for the on-premises mailboxes (empty without a book)."""
    from mailwarden.directory import AddressBook

    try:
        with store_for(block).session() as s:
            book = AddressBook.load(s, block.tenant_id)
    except LookupError:
        return {}
    return MailboxRouter.from_book(None, book).onprem_mailboxes()


def side_of(where: Where) -> str:
    """The report label of a mailbox's side."""
    return SIDE_LABEL["onprem" if where and where[0] == "onprem" else "cloud"]


def mailbox_router(block: M365Tenant, graph: Any, sides: Mapping[str, tuple[str, str]]) -> MailboxRouter:
    """A router giving each mailbox its access: Graph, or EWS (the block's on-premises settings)
    for the on-premises ones of ``sides``."""
    return MailboxRouter(graph, sides, block.ews_settings())


def mailbox_access(block: M365Tenant, graph: Any, mailbox_id: str, where: Where) -> MailboxAccess:
    """The access for one mailbox: Graph for a cloud mailbox, EWS (the block's on-premises settings) else."""
    return mailbox_router(block, graph, {mailbox_id: where} if where else {}).for_mailbox(mailbox_id)


def onprem_access(block: M365Tenant, graph: Any, mailbox_id: str) -> MailboxAccess | None:
    """The EWS access of an on-premises mailbox, or None for a cloud one."""
    where = mailbox_sides(block).get(mailbox_id.lower())
    return mailbox_access(block, graph, mailbox_id, where) if where else None
