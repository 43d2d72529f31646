"""The outcome of a threat response: its result, its Markdown summary, the per-side lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailwarden.reports import md, md_code
from mailwarden.response.act import CopyResult, counts
from mailwarden.response.search import ThreatSearch


@dataclass
class ThreatResponse:
    """What a threat-response run found and did (or why it did nothing)."""

    tenant_id: str
    scope: str
    search: ThreatSearch
    status: str = "done"
    """``done``, ``nothing-found``, ``approval-timed-out`` or ``rejected``."""
    action: str = ""
    approval: str = ""
    """Who approved (or ``unattended``), as the audit log records it."""
    results: list[CopyResult] = field(default_factory=list)
    flow_run_id: str | None = None

    def counts(self) -> dict[str, int]:
        return counts(self.results)

    def to_dict(self) -> dict[str, Any]:
        """The flow's result."""
        search = self.search
        out: dict[str, Any] = {
            "tenant_id": self.tenant_id, "scope": self.scope, "query": search.query, "found": len(search.copies),
            "mailboxes_with_copies": search.mailboxes_with_copies(), "search_errors": search.errors,
            "status": self.status}
        if self.status == "rejected":
            out["decision"] = self.approval
        if self.status != "done":
            return {**out, "results": []}
        return {**out, "action": self.action, "counts": self.counts(), "results": [r.row() for r in self.results],
                "flow_run_id": self.flow_run_id}

    def summary_markdown(self, domain: str) -> str:
        mailboxes = len({r.mailbox for r in self.results})
        return "\n".join([
            f"# Threat response on {md(domain)}", "", f"Query: {md_code(self.search.query)}", "",
            f"Action **{md(self.action)}** ({md(self.approval)}) on {len(self.results)} copies in {mailboxes} "
            "mailboxes: " + ", ".join(f"{k}={v}" for k, v in sorted(self.counts().items())), "",
            *per_side_lines([r.row() for r in self.results], [m.row() for m in self.search.searched]),
            f"Undo with flow `restore` and `flow_run_id={self.flow_run_id}`." if self.action != "hard_delete" else
            "Hard deletes cannot be undone."])


def per_side_lines(results: Sequence[Mapping[str, Any]], searched: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown lines: per side, the mailboxes searched and failed (with reasons) and the action results.

    ``searched``: one row per mailbox with ``side`` and ``error``; ``results``: rows with ``side`` and ``result``.
    """
    lines = ["| side | mailboxes | failed | results |", "|---|---|---|---|"]
    reasons: dict[str, set[str]] = {}
    for side in sorted({str(f.get("side", "cloud")) for f in searched} | {"cloud"}):
        mine = [f for f in searched if f.get("side", "cloud") == side]
        bad = [f for f in mine if f.get("error")]
        reasons[side] = {str(f["error"]) for f in bad}
        by_result: dict[str, int] = {}
        for r in results:
            if r.get("side", "cloud") == side:
                by_result[r["result"]] = by_result.get(r["result"], 0) + 1
        lines.append(f"| {side} | {len(mine)} | {len(bad)} | "
                     f"{', '.join(f'{k}={v}' for k, v in sorted(by_result.items())) or '-'} |")
    lines += [f"- {side} failed: {md(reason)}" for side, rs in reasons.items() for reason in sorted(rs)[:3]]
    return [*lines, ""]
