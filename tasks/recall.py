"""Tasks of ``recall-message``: plan (sender, sent message, recipients), recall per mailbox, forwards,
the artifacts and the sender's notice.

Thin wrappers around :mod:`mailwarden.recall`; per-mailbox tasks retry transient Graph failures and
run on the flow's task runner (:func:`recall_mailboxes`, :func:`find_all_forwards`). Bad input is
not an exception here: :func:`plan_recall` returns a :class:`RecallPlan` that says why it was rejected.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner

from blocks.m365 import M365Tenant
from mailwarden.directory import AddressBook
from mailwarden.graph import Forbidden, GraphClient, NotFound
from mailwarden.mailbox.access import MailboxRouter
from mailwarden.mailbox.ews import OnPremUnavailable
from mailwarden.recall import (
    Forward,
    MessageRef,
    RecallOptions,
    RecallPlan,
    RecallRejected,
    RecallReport,
    RecipientResult,
    Target,
    check_sender,
    expand_recipients,
    find_forwards,
    find_sent_message,
    recall_from_mailbox,
    recipients_of,
    summary_markdown,
)
from tasks.common import artifact_key, retry_transient, store_for
from tasks.mailbox_access import mailbox_access
from tasks.notify import notify_by_mail
from tasks.runners import gather


@task(name="plan-recall", retries=2, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def plan_recall(client: GraphClient, block: M365Tenant, sender: str, ref: MessageRef) -> RecallPlan:
    """Check the sender, find the sent message, expand its recipients (or say why not)."""
    log = get_run_logger()
    with store_for(block).session() as s:
        try:
            book = AddressBook.load(s, block.tenant_id)
        except LookupError as exc:
            return RecallPlan.refused(str(exc))
    sides = MailboxRouter.from_book(None, book).onprem_mailboxes()
    try:
        sender_mailbox = check_sender(book, sender)
        sent = find_sent_message(mailbox_access(block, client, sender_mailbox, sides.get(sender_mailbox)),
                                 sender_mailbox, ref)
    except (RecallRejected, OnPremUnavailable) as exc:
        log.warning("recall rejected: %s", exc)
        return RecallPlan.refused(str(exc))
    exp = expand_recipients(book, recipients_of(sent), exclude=[sender_mailbox]).locate(sides)
    log.info("recall of %s: %d internal mailboxes, %d external addresses", sent.get("internetMessageId"),
             len(exp.targets), len(exp.external))
    return RecallPlan(sender_mailbox, sent, exp)


@task(name="publish-recall-plan", cache_policy=NO_CACHE)
def publish_recall_plan(block: M365Tenant, report: RecallReport, plan: RecallPlan) -> None:
    """The plan the approver decides on: one ``planned`` row per mailbox."""
    planned = RecallReport(tenant=report.tenant, sender=report.sender, message=report.message, action=report.action,
                           status="planned", subject=report.subject, internet_message_id=report.internet_message_id,
                           results=plan.planned(), flow_run_id=report.flow_run_id)
    create_markdown_artifact(summary_markdown(planned), key=artifact_key("recall-plan", block),
                             description=f"Recall plan of {report.message}, awaiting approval")


@task(name="recall-from-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def recall_mailbox_task(client: GraphClient, block: M365Tenant, target: Target, internet_message_id: str,
                        options: RecallOptions) -> list[RecipientResult]:
    """Recall the copies of one message in one mailbox: one result per copy (or one if none)."""
    mailbox = target.mailbox_id
    try:
        access = mailbox_access(block, client, mailbox, target.where)
        folders = access.folder_names()
    except (NotFound, Forbidden):
        folders = {}
    except OnPremUnavailable as exc:
        get_run_logger().error("recall in %s (on-premises) failed: %s", mailbox, exc)
        return [RecipientResult(target.address, mailbox, "failed", target.via_text(),
                                internet_message_id=internet_message_id, detail=str(exc), side=target.side)]
    with store_for(block).session() as s:
        results = recall_from_mailbox(
            client, s, tenant_id=block.tenant_id, mailbox_id=mailbox, recipient=target.address,
            internet_message_id=internet_message_id, action=options.action, include_read=options.include_read,
            actor=options.actor, reason=options.reason, approval=options.approval, flow_run_id=options.flow_run_id,
            via=target.via_text(), folders=folders, access=access)
    get_run_logger().info("recall in %s: %s", mailbox, [r.status for r in results])
    return results


def recall_mailboxes(runner: TaskRunner[Any], client: GraphClient, block: M365Tenant, targets: list[Target],
                     internet_message_id: str, options: RecallOptions) -> list[RecipientResult]:
    """One :func:`recall_mailbox_task` per target mailbox on ``runner``; the rows in the targets' order."""
    got = gather(runner, recall_mailbox_task, {t.mailbox_id: {
        "client": client, "block": block, "target": t, "internet_message_id": internet_message_id,
        "options": options} for t in targets})
    return [r for rows in got.values() for r in rows]


@task(name="find-forwards", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def forwards_task(client: GraphClient, block: M365Tenant, target: Target, sent: dict[str, Any]) -> list[Forward]:
    """Forwards of the message sent from one recipient's mailbox, each with its expanded recipients."""
    mailbox = target.mailbox_id
    try:
        found = find_forwards(mailbox_access(block, client, mailbox, target.where), mailbox, sent)
    except (NotFound, Forbidden, OnPremUnavailable):
        return []
    if not found:
        return []
    with store_for(block).session() as s:
        book = AddressBook.load(s, block.tenant_id)
    sides = MailboxRouter.from_book(None, book).onprem_mailboxes()
    out = [Forward(target.address, mailbox, str(fwd.get("internetMessageId") or ""), str(fwd.get("subject") or ""),
                   expand_recipients(book, recipients_of(fwd), exclude=[mailbox],
                                     via_prefix=f"forward by {target.address} ").locate(sides))
           for fwd in found]
    get_run_logger().info("%d forward(s) of the message sent from %s", len(out), mailbox)
    return out


def find_all_forwards(runner: TaskRunner[Any], client: GraphClient, block: M365Tenant,
                      plan: RecallPlan) -> list[Forward]:
    """One :func:`forwards_task` per recipient mailbox of the plan on ``runner``; every forward found."""
    got = gather(runner, forwards_task, {t.mailbox_id: {"client": client, "block": block, "target": t,
                                                        "sent": plan.sent} for t in plan.targets})
    return [f for found in got.values() for f in found]


@task(name="publish-recall-report", cache_policy=NO_CACHE)
def publish_recall(report: RecallReport) -> None:
    """The per-recipient table and the Markdown summary of the recall (keys by the report's tenant domain)."""
    create_table_artifact(report.rows() or [{"result": f"{report.status}: {report.reason}"}],
                          key=artifact_key("recall-results", report.tenant),
                          description=f"Recall of {report.message}: one row per recipient")
    create_markdown_artifact(summary_markdown(report), key=artifact_key("recall-summary", report.tenant),
                             description=f"Recall of {report.message} from {report.sender}: {report.status}")


@task(name="mail-recall-notice", cache_policy=NO_CACHE)
def mail_sender_notice(client: GraphClient, report: RecallReport, subject: str, text: str) -> bool:
    """Mail the sender the outcome from their own mailbox; False (logged) when the mail could not go."""
    try:
        notify_by_mail(client, report.sender, report.sender, subject, text)
    except Exception as exc:  # noqa: BLE001 - a notice must not fail the recall that already happened
        get_run_logger().warning("notice mail to %s failed: %s", report.sender, type(exc).__name__)
        return False
    return True
