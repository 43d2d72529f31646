"""Which side each mailbox lives on, and its :class:`~mailwarden.mailbox.access.MailboxAccess`, for tasks.

Flows look the sides up once (:func:`mailbox_sides`, from the address book) and hand each
per-mailbox task its mailbox's ``where`` (``("onprem", smtp)`` or None for the cloud): a small,
serialisable value, so the task builds its access in whichever process runs it.
"""

from __future__ import annotations

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


def mailbox_access(block: M365Tenant, graph: Any, mailbox_id: str, where: Where) -> MailboxAccess:
    """The access for one mailbox: Graph for a cloud mailbox, EWS (the block's on-premises settings) else."""
    locations = {mailbox_id: where} if where else {}
    return MailboxRouter(graph, locations, block.ews_settings()).for_mailbox(mailbox_id)


def onprem_access(block: M365Tenant, graph: Any, mailbox_id: str) -> MailboxAccess | None:
    """The EWS access of an on-premises mailbox, or None for a cloud one."""
    where = mailbox_sides(block).get(mailbox_id.lower())
    return mailbox_access(block, graph, mailbox_id, where) if where else None


def per_side_lines(results: list[dict[str, Any]], searched: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: per side, the mailboxes searched and failed (with reasons) and the action results."""
    lines = ["| side | mailboxes | failed | results |", "|---|---|---|---|"]
    reasons: dict[str, set[str]] = {}
    for side in sorted({str(f.get("side", "cloud")) for f in searched} | {"cloud"}):
        mine = [f for f in searched if f.get("side", "cloud") == side]
        bad = [f for f in mine if f.get("error")]
        reasons[side] = {str(f["error"]) for f in bad}
        counts: dict[str, int] = {}
        for r in results:
            if r.get("side", "cloud") == side:
                counts[r["result"]] = counts.get(r["result"], 0) + 1
        lines.append(f"| {side} | {len(mine)} | {len(bad)} | "
                     f"{', '.join(f'{k}={v}' for k, v in sorted(counts.items())) or '-'} |")
    lines += [f"- {side} failed: {reason}" for side, rs in reasons.items() for reason in sorted(rs)[:3]]
    return [*lines, ""]
