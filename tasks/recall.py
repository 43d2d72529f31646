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
from mailwarden.mailbox import folder_names
from mailwarden.recall import (
    Expansion,
    MessageRef,
    RecallRejected,
    check_sender,
    expand_recipients,
    find_forwards,
    find_sent_message,
    recall_from_mailbox,
    recipients_of,
)
from tasks.common import store_for
from tasks.scan import retry_transient


def _expansion_dict(exp: Expansion) -> dict[str, Any]:
    return {"targets": [asdict(t) for t in exp.targets.values()],
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
    try:
        sender_mailbox = check_sender(book, sender)
        sent = find_sent_message(client, sender_mailbox, ref)
    except RecallRejected as exc:
        log.warning("recall rejected: %s", exc)
        return {"rejected": str(exc)}
    exp = expand_recipients(book, recipients_of(sent), exclude=[sender_mailbox])
    log.info("recall of %s: %d internal mailboxes, %d external addresses", sent.get("internetMessageId"),
             len(exp.targets), len(exp.external))
    return {"rejected": None, "sender_mailbox": sender_mailbox, "sent": sent, **_expansion_dict(exp)}


@task(name="recall-from-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def recall_mailbox_task(client: GraphClient, block: M365Tenant, target: dict[str, Any], internet_message_id: str,
                        action: str, include_read: bool, actor: str, reason: str, approval: str,
                        flow_run_id: str | None) -> list[dict[str, Any]]:
    """Recall the copies of one message in one mailbox; result rows (see ``RecipientResult``)."""
    mailbox = str(target["mailbox_id"])
    try:
        folders = folder_names(client, mailbox)
    except (NotFound, Forbidden):
        folders = {}
    with store_for(block).session() as s:
        results = recall_from_mailbox(
            client, s, tenant_id=block.tenant_id, mailbox_id=mailbox, recipient=str(target["address"]),
            internet_message_id=internet_message_id, action=action, include_read=include_read, actor=actor,
            reason=reason, approval=approval, flow_run_id=flow_run_id, via="; ".join(target.get("via") or []),
            folders=folders)
    get_run_logger().info("recall in %s: %s", mailbox, [r.status for r in results])
    return [asdict(r) for r in results]


@task(name="find-forwards", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def forwards_task(client: GraphClient, block: M365Tenant, target: dict[str, Any], sent: dict[str, Any],
                  exclude: list[str]) -> list[dict[str, Any]]:
    """Forwards of the message sent from one recipient's mailbox, each with its expanded recipients."""
    mailbox = str(target["mailbox_id"])
    try:
        found = find_forwards(client, mailbox, sent)
    except (NotFound, Forbidden):
        return []
    if not found:
        return []
    with store_for(block).session() as s:
        book = AddressBook.load(s, block.tenant_id)
    out = []
    for fwd in found:
        exp = expand_recipients(book, recipients_of(fwd), exclude=[mailbox, *exclude],
                                via_prefix=f"forward by {target['address']} ")
        out.append({"by": target["address"], "by_mailbox": mailbox,
                    "internet_message_id": fwd.get("internetMessageId"), "subject": fwd.get("subject"),
                    **_expansion_dict(exp)})
    get_run_logger().info("%d forward(s) of the message sent from %s", len(out), mailbox)
    return out
