"""Tasks of ``recall-message``: plan (sender, sent message, recipients), recall per mailbox, forwards.

Thin wrappers around :mod:`mailwarden.recall`; per-mailbox tasks retry transient Graph failures.
Bad input is not an exception here: :func:`plan_recall` returns ``{"rejected": reason}``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.m365 import M365Tenant
from mailwarden.directory import AddressBook
from mailwarden.graph import Forbidden, GraphClient, NotFound
from mailwarden.mailbox.access import MailboxRouter
from mailwarden.mailbox.ews import OnPremUnavailable
from mailwarden.recall import (
    Expansion,
    MessageRef,
    RecallRejected,
    RecipientResult,
    check_sender,
    expand_recipients,
    find_forwards,
    find_sent_message,
    recall_from_mailbox,
    recipients_of,
)
from tasks.common import retry_transient, store_for
from tasks.mailbox_access import mailbox_access, side_of


def _expansion_dict(exp: Expansion, sides: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The expansion as plain data; each target carries its ``where`` (on-premises mailboxes: EWS)."""
    targets = [{**asdict(t), "where": (sides or {}).get(str(t.mailbox_id))} for t in exp.targets.values()]
    return {"targets": targets,
            "external": [list(x) for x in exp.external], "unresolved": [list(x) for x in exp.unresolved]}


@task(name="plan-recall", retries=2, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def plan_recall(client: GraphClient, block: M365Tenant, sender: str, ref: MessageRef) -> dict[str, Any]:
    """Check the sender, find the sent message, expand its recipients (or say why not)."""
    log = get_run_logger()
    with store_for(block).session() as s:
        try:
            book = AddressBook.load(s, block.tenant_id)
        except LookupError as exc:
            return {"rejected": str(exc)}
    sides = MailboxRouter.from_book(None, book).onprem_mailboxes()
    try:
        sender_mailbox = check_sender(book, sender)
        sent = find_sent_message(mailbox_access(block, client, sender_mailbox, sides.get(sender_mailbox)),
                                 sender_mailbox, ref)
    except (RecallRejected, OnPremUnavailable) as exc:
        log.warning("recall rejected: %s", exc)
        return {"rejected": str(exc)}
    exp = expand_recipients(book, recipients_of(sent), exclude=[sender_mailbox])
    log.info("recall of %s: %d internal mailboxes, %d external addresses", sent.get("internetMessageId"),
             len(exp.targets), len(exp.external))
    return {"rejected": None, "sender_mailbox": sender_mailbox, "sent": sent, **_expansion_dict(exp, sides)}


@task(name="recall-from-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def recall_mailbox_task(client: GraphClient, block: M365Tenant, target: dict[str, Any], internet_message_id: str,
                        action: str, include_read: bool, actor: str, reason: str, approval: str,
                        flow_run_id: str | None) -> list[dict[str, Any]]:
    """Recall the copies of one message in one mailbox; result rows (see ``RecipientResult``)."""
    mailbox = str(target["mailbox_id"])
    where = target.get("where")
    try:
        access = mailbox_access(block, client, mailbox, where)
        folders = access.folder_names()
    except (NotFound, Forbidden):
        folders = {}
    except OnPremUnavailable as exc:
        get_run_logger().error("recall in %s (on-premises) failed: %s", mailbox, exc)
        return [asdict(RecipientResult(str(target["address"]), mailbox, "failed", "; ".join(target.get("via") or []),
                                       internet_message_id=internet_message_id, detail=str(exc),
                                       side=side_of(where)))]
    with store_for(block).session() as s:
        results = recall_from_mailbox(
            client, s, tenant_id=block.tenant_id, mailbox_id=mailbox, recipient=str(target["address"]),
            internet_message_id=internet_message_id, action=action, include_read=include_read, actor=actor,
            reason=reason, approval=approval, flow_run_id=flow_run_id, via="; ".join(target.get("via") or []),
            folders=folders, access=access)
    get_run_logger().info("recall in %s: %s", mailbox, [r.status for r in results])
    return [asdict(r) for r in results]


@task(name="find-forwards", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def forwards_task(client: GraphClient, block: M365Tenant, target: dict[str, Any], sent: dict[str, Any],
                  exclude: list[str]) -> list[dict[str, Any]]:
    """Forwards of the message sent from one recipient's mailbox, each with its expanded recipients."""
    mailbox = str(target["mailbox_id"])
    try:
        found = find_forwards(mailbox_access(block, client, mailbox, target.get("where")), mailbox, sent)
    except (NotFound, Forbidden, OnPremUnavailable):
        return []
    if not found:
        return []
    with store_for(block).session() as s:
        book = AddressBook.load(s, block.tenant_id)
    out = []
    for fwd in found:
        exp = expand_recipients(book, recipients_of(fwd), exclude=[mailbox, *exclude],
                                via_prefix=f"forward by {target['address']} ")
        sides = MailboxRouter.from_book(None, book).onprem_mailboxes()
        out.append({"by": target["address"], "by_mailbox": mailbox,
                    "internet_message_id": fwd.get("internetMessageId"), "subject": fwd.get("subject"),
                    **_expansion_dict(exp, sides)})
    get_run_logger().info("%d forward(s) of the message sent from %s", len(out), mailbox)
    return out
