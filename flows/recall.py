"""Flow ``recall-message``: take back a message a user sent to colleagues, from every internal mailbox.

Entrypoint: ``flows/recall.py:recall_message``.

The operator's runbook, step by step:

1. name the message by its Internet message id, or by subject and sent time (± tolerance);
   give the tenant and the sender (an address of that tenant);
2. the flow checks the sender is a mailbox of *this* tenant and finds the message in the
   sender's Sent Items -- otherwise it ends with a "rejected" report and touches nothing;
3. To, Cc and Bcc are expanded through the address book (``reconcile-licenses`` keeps it):
   aliases to their mailbox, distribution lists and groups to their members through nested
   groups; outside addresses are reported "external (not recallable)";
4. with ``approval="ask"`` the plan is published and the run pauses for a
   :class:`RecallApproval` (approve / reject) until ``approval_timeout`` seconds pass;
5. each internal mailbox (one task each, ``concurrency`` at once) is searched in every folder and
   each copy is quarantined / soft- or hard-deleted once (audited, scope ``recall``); read copies
   are left alone unless ``include_read``; internal forwards found in recipients' Sent Items are
   recalled too, and forwards that left the tenant are reported;
6. a table artifact (one row per recipient and copy), a Markdown summary, a notification to
   ``notify`` and, with ``notify_sender``, a notice mail to the sender.

On-premises mailboxes (Exchange hybrid) are read and acted on through EWS; each row says its side,
and an unusable on-premises server fails those rows with the reason.

Undo quarantines and soft deletes with the ``restore`` flow and this run's flow run id.

The domain is :mod:`mailwarden.recall`; the tasks are in tasks/recall.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.flow_runs import FlowPauseTimeout, pause_flow_run
from prefect.input import RunInput

from mailwarden.recall import MessageRef, RecallOptions, RecallReport, notice_text
from tasks.common import current_flow_run_id, load_tenant
from tasks.notify import notify_task
from tasks.recall import (
    find_all_forwards,
    mail_sender_notice,
    plan_recall,
    publish_recall,
    publish_recall_plan,
    recall_mailboxes,
)
from tasks.runners import build_runner

RecallAction = Literal["quarantine", "soft_delete", "hard_delete"]
APPROVAL_POLL_SECONDS = 5


class RecallApproval(RunInput):
    """The approver's answer to a planned recall."""

    approve: bool = False
    comment: str = ""


def _ask(timeout: int) -> tuple[bool, str]:
    try:
        answer = pause_flow_run(wait_for_input=RecallApproval, timeout=timeout, poll_interval=APPROVAL_POLL_SECONDS)
    except FlowPauseTimeout:
        return False, f"no approval within {timeout}s: nothing recalled"
    if answer is None or not answer.approve:
        comment = f" ({answer.comment[:200]})" if answer is not None and answer.comment else ""
        return False, f"rejected by the approver{comment}: nothing recalled"
    return True, "approved" + (f" ({answer.comment[:200]})" if answer.comment else "")


@flow(name="recall-message", log_prints=False, validate_parameters=True)
def recall_message(
    tenant: str,
    sender: str,
    internet_message_id: str | None = None,
    subject: str | None = None,
    sent_at: datetime | None = None,
    tolerance_minutes: float = 5.0,
    action: RecallAction = "quarantine",
    include_read: bool = False,
    include_forwards: bool = True,
    approval: Literal["auto", "ask"] = "auto",
    approval_timeout: int = 3600,
    reason: str = "recall requested by the sender",
    notify: str | None = None,
    notify_sender: bool = False,
    concurrency: int = 8,
) -> dict[str, Any]:
    """Recall a message ``sender`` sent, from every internal mailbox that received it.

    Args:
        tenant: The tenant's block name or primary domain.
        sender: The sender's address (must be a mailbox of this tenant).
        internet_message_id: The message's Internet message id (or give subject and sent_at).
        subject: The message's subject (with sent_at, when the id is unknown).
        sent_at: When it was sent (UTC if no zone), matched within ``tolerance_minutes``.
        tolerance_minutes: How far the sent time may be from ``sent_at``.
        action: quarantine (restorable), soft_delete (restorable) or hard_delete (final).
        include_read: Recall copies already read too (else they are left alone and reported).
        include_forwards: Also recall internal forwards found in recipients' Sent Items.
        approval: ``auto`` acts at once; ``ask`` pauses for a RecallApproval.
        approval_timeout: Seconds to wait for the approval before giving up (nothing recalled).
        reason: Recorded in the audit log.
        notify: Name of a Prefect notification block told the outcome.
        notify_sender: Also mail the sender a notice of the outcome.
        concurrency: Mailboxes searched / recalled from at once.
    """
    if tolerance_minutes < 0:
        raise ValueError("tolerance_minutes must not be negative")
    if approval_timeout < 1:
        raise ValueError("approval_timeout must be positive")
    if not sender or "@" not in sender:
        raise ValueError("sender must be a mail address")
    ref = MessageRef(internet_message_id=internet_message_id or None, subject=subject or None, sent_at=sent_at,
                     tolerance=timedelta(minutes=tolerance_minutes))
    runner: Any = build_runner("threads", concurrency)  # the flow's Graph client is shared by the threads
    block = load_tenant(tenant)
    report = RecallReport(tenant=block.primary_domain, sender=sender.strip().lower(), message=ref.describe(),
                          action=action, flow_run_id=current_flow_run_id())
    with block.graph_client("basic") as client, runner:
        plan = plan_recall(client, block, sender, ref)
        if plan.rejected:
            report.status, report.reason = "rejected", plan.rejected
            return _finish(report, client, notify, notify_sender=False)
        imid = report.internet_message_id = plan.internet_message_id
        report.subject = plan.subject
        approval_text = "auto"
        if approval == "ask":
            publish_recall_plan(block, report, plan)
            ok, approval_text = _ask(approval_timeout)
            if not ok:
                report.status, report.reason = "not_approved", approval_text
                return _finish(report, client, notify, notify_sender=False)
        options = RecallOptions(action=action, include_read=include_read, actor="recall-message", reason=reason,
                                approval=approval_text, flow_run_id=report.flow_run_id)
        report.results = recall_mailboxes(runner, client, block, plan.targets, imid, options) + plan.unreachable()
        if include_forwards:
            for fwd in find_all_forwards(runner, client, block, plan):
                report.results += recall_mailboxes(runner, client, block, fwd.targets, fwd.internet_message_id,
                                                   options) + fwd.left_tenant()
        get_run_logger().info("recall of %s: %s", imid, report.counts())
        return _finish(report, client, notify, notify_sender=notify_sender)


def _finish(report: RecallReport, client: Any, notify: str | None, *, notify_sender: bool) -> dict[str, Any]:
    """Publish the report, tell ``notify`` and (after a done recall, if asked) the sender; the flow's result."""
    publish_recall(report)
    subject, text = report.notice_subject(), notice_text(report)
    notified = bool(notify_task(notify, subject, text)) if notify else False
    mailed = notify_sender and report.status == "done" and mail_sender_notice(client, report, subject, text)
    return {**report.to_dict(), "notified": notified, "sender_notified": bool(mailed)}
