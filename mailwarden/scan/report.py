"""The report of a historic scan: totals, the per-mailbox table, the Markdown summary, the run record."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailwarden.detection.evaluation import markdown as evaluation_markdown
from mailwarden.reports import md, md_code
from mailwarden.scan.mailbox import MailboxScan
from mailwarden.store.repositories import finish_scan_run

TABLE_CATEGORIES = ("malicious", "suspicious", "spam")


@dataclass
class ScanReport:
    """What a scan found and did, mailbox by mailbox (sorted by address)."""

    domain: str
    tenant_id: str
    scan_id: str
    since: datetime
    results: list[MailboxScan]
    addresses: dict[str, str] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    """Against ground truth (see :mod:`mailwarden.scan.ground_truth`), when one was given."""
    scan_run_id: str | None = None

    def __post_init__(self) -> None:
        self.results = sorted(self.results, key=lambda r: (self.address(r.mailbox), r.mailbox))

    def address(self, mailbox_id: str) -> str:
        return self.addresses.get(mailbox_id, mailbox_id)

    @property
    def categories(self) -> Counter[str]:
        return sum((Counter(r.categories) for r in self.results), Counter())

    @property
    def actions(self) -> Counter[str]:
        return sum((Counter(r.actions) for r in self.results), Counter())

    @property
    def failed(self) -> dict[str, str | None]:
        return {r.mailbox: r.error for r in self.results if r.status == "failed"}

    @property
    def status(self) -> str:
        """The run record's status: ``done``, or ``partial`` when a mailbox failed."""
        return "partial" if self.failed else "done"

    def scanned(self) -> list[str]:
        """The mailboxes this scan has read to the end (in this run or before)."""
        return [r.mailbox for r in self.results if r.status == "done"]

    def totals(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mailboxes": len(self.results), "messages": sum(r.seen for r in self.results),
            "categories": dict(self.categories), "actions": dict(self.actions), "failed": self.failed,
            "resumed": [r.mailbox for r in self.results if r.skipped]}
        if self.evaluation is not None:
            out["evaluation"] = self.evaluation
        return out

    def to_dict(self) -> dict[str, Any]:
        """The flow's result. ``scope`` is the scan's id as the checkpoints and the audit log name it."""
        return {"tenant_id": self.tenant_id, "scan_id": self.scan_id, "scope": self.scan_id,
                "scan_run_id": self.scan_run_id, "since": self.since.isoformat(), **self.totals(),
                "rows": [r.row() for r in self.results]}

    def record(self, session: Session) -> None:
        """Close the run record with the status and totals (not committed)."""
        if self.scan_run_id is not None:
            finish_scan_run(session, self.scan_run_id, self.status, totals=self.totals())

    def table_rows(self) -> list[dict[str, Any]]:
        """One row per mailbox, its address first."""
        return [{"address": self.address(r.mailbox), "mailbox": r.mailbox, "side": r.side,
                 "status": "resumed" if r.skipped else r.status, "messages": r.seen,
                 **{c: r.categories.get(c, 0) for c in TABLE_CATEGORIES},
                 "actions": ", ".join(f"{k}={v}" for k, v in sorted(r.actions.items())), "error": r.error or ""}
                for r in self.results]

    def summary_markdown(self) -> str:
        rows, failed = self.results, [r for r in self.results if r.status == "failed"]
        lines = [f"# Historic scan of {md(self.domain)}", "",
                 f"Scan {md_code(self.scan_id)}: {len(rows)} mailboxes, {sum(r.seen for r in rows)} messages, "
                 f"{sum(1 for r in rows if r.skipped)} resumed (done before), {len(failed)} failed.", "",
                 "| category | messages |", "|---|---|"]
        lines += [f"| {c} | {n} |" for c, n in sorted(self.categories.items())]
        lines += ["", "| side | mailboxes | messages | failed |", "|---|---|---|---|"]
        for side in sorted({r.side for r in rows}):
            mine = [r for r in rows if r.side == side]
            lines.append(f"| {side} | {len(mine)} | {sum(r.seen for r in mine)} | "
                         f"{sum(1 for r in mine if r.status == 'failed')} |")
        lines += ["", "| action:result | messages |", "|---|---|"]
        lines += [f"| {a} | {n} |" for a, n in sorted(self.actions.items())] or ["| (none) | 0 |"]
        if failed:
            lines += ["", "## Failed mailboxes", ""] + [
                f"- {md(self.address(r.mailbox))} ({md_code(r.mailbox)}): {md(r.error)}" for r in failed]
        if self.evaluation is not None:
            ev = self.evaluation
            lines += ["", "## Detection against ground truth", ""]
            lines += ([f"Not evaluated: {md(ev['error'])}"] if "error" in ev else [
                f"{ev['judged']} labelled messages judged ({ev['out_of_scope']} labels outside "
                "the scanned mailboxes or window).", "", *evaluation_markdown(ev)])
        return "\n".join(lines)
