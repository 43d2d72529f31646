"""The recall report: per-recipient rows, counts, a Markdown summary and the notices."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailwarden.recall.act import STATUS_TEXT, RecipientResult
from mailwarden.reports import md, md_code


@dataclass
class RecallReport:
    """What a recall did (or why it did nothing)."""

    tenant: str
    sender: str
    message: str
    """How the message was named (its id, or subject and time)."""
    action: str
    status: str = "done"
    """``done``, ``rejected`` (bad input: nothing touched), ``not_approved`` or ``planned``."""
    reason: str = ""
    subject: str = ""
    internet_message_id: str = ""
    results: list[RecipientResult] = field(default_factory=list)
    flow_run_id: str | None = None

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.status for r in self.results).items()))

    def rows(self) -> list[dict[str, Any]]:
        return [r.row() for r in self.results]

    def notice_subject(self) -> str:
        """The subject of the operator's notification and the sender's notice mail."""
        return f"mailwarden recall ({self.status}): {self.subject or self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "sender": self.sender, "message": self.message, "action": self.action,
                "status": self.status, "reason": self.reason, "subject": self.subject,
                "internet_message_id": self.internet_message_id, "counts": self.counts(),
                "results": self.rows(), "flow_run_id": self.flow_run_id}


def _table(rows: Iterable[RecipientResult]) -> list[str]:
    lines = ["| recipient | result | via | folder | detail | side |", "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r.recipient, STATUS_TEXT[r.status], r.via, r.folder, r.detail, r.side]
        lines.append("| " + " | ".join(md(c) for c in cells) + " |")
    return lines


def summary_markdown(report: RecallReport) -> str:
    """A Markdown page for the flow run's artifact."""
    head = [f"# Recall: {md(report.subject or report.message)}", "",
            f"Tenant {md_code(report.tenant)}, sender {md_code(report.sender)}, action {md_code(report.action)}: "
            f"**{md(report.status)}**."]
    if report.reason:
        head += ["", md(report.reason)]
    if not report.results:
        return "\n".join(head)
    counts = ", ".join(f"{STATUS_TEXT[k]}: {v}" for k, v in report.counts().items())
    tail = [""]
    if report.action != "hard_delete" and any(r.status == "recalled" for r in report.results):
        tail.append(f"Undo with flow `restore` and `flow_run_id={report.flow_run_id}`.")
    return "\n".join([*head, "", counts, "", *_table(report.results), *tail])


def notice_text(report: RecallReport) -> str:
    """A plain-text notice (operator notification, mail to the sender)."""
    lines = [f"Recall of {report.subject or report.message!s} sent by {report.sender}: {report.status}."]
    if report.reason:
        lines.append(report.reason)
    for k, v in report.counts().items():
        lines.append(f"- {STATUS_TEXT[k]}: {v}")
    external = sorted({r.recipient for r in report.results if r.status == "external"})
    if external:
        lines.append("Not recallable (outside the organisation): " + ", ".join(external))
    return "\n".join(lines)


def external_results(addresses: Sequence[tuple[str, str]], imid: str) -> list[RecipientResult]:
    """Rows for recipients outside the tenant."""
    return [RecipientResult(recipient=a, mailbox_id=None, status="external", via=via, internet_message_id=imid,
                            detail="outside the tenant") for a, via in addresses]
