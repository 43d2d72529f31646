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
5. each internal mailbox is searched in every folder and each copy is quarantined / soft- or
   hard-deleted once (audited, scope ``recall``); read copies are left alone unless
   ``include_read``; internal forwards found in recipients' Sent Items are recalled too, and
   forwards that left the tenant are reported;
6. a table artifact (one row per recipient and copy), a Markdown summary, a notification to
   ``notify`` and, with ``notify_sender``, a notice mail to the sender.

On-premises mailboxes (Exchange hybrid) are read and acted on through EWS; each row says its side,
and an unusable on-premises server fails those rows with the reason.

Undo quarantines and soft deletes with the ``restore`` flow and this run's flow run id.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.flow_runs import FlowPauseTimeout, pause_flow_run
from prefect.input import RunInput

from mailwarden.recall import (
    MessageRef,
    RecallReport,
    RecipientResult,
    external_results,
    notice_text,
    summary_markdown,
)
from tasks.common import artifact_key, current_flow_run_id, load_tenant
from tasks.notify import notify_by_mail, notify_task
from tasks.recall import forwards_task, plan_recall, recall_mailbox_task

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


def _rows(dicts: list[dict[str, Any]]) -> list[RecipientResult]:
    return [RecipientResult(**d) for d in dicts]


def _publish(report: RecallReport) -> None:
    rows = report.rows() or [{"result": f"{report.status}: {report.reason}"}]
    create_table_artifact(rows, key=artifact_key("recall-results", report.tenant),
                          description=f"Recall of {report.message}: one row per recipient")
    create_markdown_artifact(summary_markdown(report), key=artifact_key("recall-summary", report.tenant),
                             description=f"Recall of {report.message} from {report.sender}: {report.status}")


def _recall_targets(client: Any, block: Any, targets: list[dict[str, Any]], imid: str, common: dict[str, Any]
                    ) -> list[RecipientResult]:
    futures = [recall_mailbox_task.submit(client, block, t, imid, **common) for t in targets]
    return [r for f in futures for r in _rows(f.result())]


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
    """
    if tolerance_minutes < 0:
        raise ValueError("tolerance_minutes must not be negative")
    if approval_timeout < 1:
        raise ValueError("approval_timeout must be positive")
    if not sender or "@" not in sender:
        raise ValueError("sender must be a mail address")
    ref = MessageRef(internet_message_id=internet_message_id or None, subject=subject or None, sent_at=sent_at,
                     tolerance=timedelta(minutes=tolerance_minutes))
    log = get_run_logger()
    block = load_tenant(tenant)
    run_id = current_flow_run_id()
    report = RecallReport(tenant=block.primary_domain, sender=sender.strip().lower(), message=ref.describe(),
                          action=action, flow_run_id=run_id)
    with block.graph_client("basic") as client:
        plan = plan_recall(client, block, sender, ref)
        if plan["rejected"]:
            report.status, report.reason = "rejected", plan["rejected"]
            return _finish(report, client, notify, notify_sender=False)
        sent = plan["sent"]
        imid = str(sent["internetMessageId"])
        report.subject, report.internet_message_id = str(sent.get("subject") or ""), imid
        approval_text = "auto"
        if approval == "ask":
            planned = replace(report, status="planned", results=[
                RecipientResult(recipient=t["address"], mailbox_id=t["mailbox_id"], status="planned",
                                via="; ".join(t["via"]), internet_message_id=imid,
                                side="on-premises" if t.get("where") else "cloud") for t in plan["targets"]])
            create_markdown_artifact(summary_markdown(planned), key=artifact_key("recall-plan", block),
                                     description=f"Recall plan of {report.message}, awaiting approval")
            ok, approval_text = _ask(approval_timeout)
            if not ok:
                report.status, report.reason = "not_approved", approval_text
                return _finish(report, client, notify, notify_sender=False)
        common = {"action": action, "include_read": include_read, "actor": "recall-message",
                  "reason": reason, "approval": approval_text, "flow_run_id": run_id}
        report.results = _recall_targets(client, block, plan["targets"], imid, common)
        report.results += external_results([tuple(x) for x in plan["external"]], imid)
        report.results += [RecipientResult(recipient=a, mailbox_id=None, status="unresolved", via=via,
                                           internet_message_id=imid) for a, via in plan["unresolved"]]
        if include_forwards:
            report.results += _recall_forwards(client, block, plan["targets"], sent, common)
        log.info("recall of %s: %s", imid, report.counts())
        return _finish(report, client, notify, notify_sender=notify_sender)


def _recall_forwards(client: Any, block: Any, targets: list[dict[str, Any]], sent: dict[str, Any],
                     common: dict[str, Any]) -> list[RecipientResult]:
    futures = [forwards_task.submit(client, block, t, sent, []) for t in targets]
    out: list[RecipientResult] = []
    for fwd in (f for fut in futures for f in fut.result()):
        fw_imid = str(fwd["internet_message_id"])
        out += _recall_targets(client, block, fwd["targets"], fw_imid, common)
        out += [RecipientResult(recipient=a, mailbox_id=None, status="external", via=via,
                                internet_message_id=fw_imid, detail=f"forward by {fwd['by']} left the tenant")
                for a, via in fwd["external"]]
    return out


def _finish(report: RecallReport, client: Any, notify: str | None, *, notify_sender: bool) -> dict[str, Any]:
    _publish(report)
    subject = f"mailwarden recall ({report.status}): {report.subject or report.message}"
    text = notice_text(report)
    notified = bool(notify_task(notify, subject, text)) if notify else False
    mailed = False
    if notify_sender and report.status == "done":
        try:
            notify_by_mail(client, report.sender, report.sender, subject, text)
            mailed = True
        except Exception as exc:  # noqa: BLE001 - a notice must not fail the recall that already happened
            get_run_logger().warning("notice mail to %s failed: %s", report.sender, type(exc).__name__)
    return {**report.to_dict(), "notified": notified, "sender_notified": mailed}
