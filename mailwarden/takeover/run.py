"""One takeover-response run: the order of the steps, the one approval the gated ones wait for,
and what the run reports.

Steps run in the given order. Those the tenant's policy lets run unattended run at once; at the
first step that is not, the run asks once for every gated step (the ``ask`` callable: a paused
flow run, in the flow) and each gated step then runs, or is recorded skipped with the decision.
A step that fails is reported and the later steps still run. The callables keep Prefect out of
here: the tasks run and record the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailwarden.policy.approval import Approval
from mailwarden.reports import md
from mailwarden.takeover.playbook import StepResult

NOT_NEEDED = "not needed (every step allowed unattended by the tenant's policy)"


@dataclass(frozen=True)
class Decision:
    """The approver's answer about the gated steps: which run, how it reads, who decided."""

    approved: frozenset[str]
    text: str
    who: Approval

    @classmethod
    def not_needed(cls) -> Decision:
        """No step waited: the policy allowed every one."""
        return cls(frozenset(), NOT_NEEDED, Approval.unattended())

    @classmethod
    def timed_out(cls, ask: Sequence[str], timeout: int) -> Decision:
        """No answer within ``timeout`` seconds: the gated steps count as rejected."""
        return cls(frozenset(), f"no answer within {timeout}s: {', '.join(ask)} not run", Approval("timed-out"))

    @classmethod
    def answer(cls, ask: Sequence[str], *, approve: bool, skip: Collection[str] = (), comment: str = "") -> Decision:
        """The answer given: rejected (with its comment), or approved but for the steps in ``skip``."""
        if not approve:
            reason = f" ({comment[:200]})" if comment else ""
            return cls(frozenset(), f"rejected{reason}", Approval.from_resume(False, comment=comment))
        approved = frozenset(s for s in ask if s not in set(skip))
        left_out = sorted(set(ask) - approved)
        text = "approved" + (f", skipping {', '.join(left_out)}" if left_out else "")
        return cls(approved, text, Approval.from_resume(True, comment=comment))


def run_trigger(evidence: dict[str, Any]) -> str:
    """``event`` when the evidence names a rule (the ``mailwarden.rule.suspicious`` payload), else ``manual``."""
    return "event" if evidence.get("rule_key") else "manual"


def failed_step(step: str, exc: Exception) -> StepResult:
    """A step that raised (after its retries): reported, so the later steps still run."""
    return StepResult(step, "failed", f"{type(exc).__name__}: {str(exc)[:200]}")


@dataclass
class TakeoverRun:
    """What a takeover response did for one user; ``user`` is the resolved user (id, upn, domains)."""

    domain: str
    user: dict[str, Any]
    run_id: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    decision: Decision = field(default_factory=Decision.not_needed)

    def play(self, steps: Sequence[str], auto: Collection[str], *,
             ask: Callable[[list[str]], Decision],
             run_step: Callable[[str, str], dict[str, Any]],
             record: Callable[[dict[str, Any]], None]) -> TakeoverRun:
        """Run ``steps`` in order: those in ``auto`` unattended, the others once ``ask`` approved them.

        ``run_step(step, approval)`` runs one step (its result as a dict, a failure reported in it);
        ``record(result)`` keeps each outcome, skipped ones included.
        """
        asked = False
        for step in steps:
            if step in auto:
                approval = Approval.unattended().audit_text()
            else:
                if not asked:
                    self.decision, asked = ask([s for s in steps if s not in auto]), True
                if step not in self.decision.approved:
                    self._done(StepResult(step, "skipped", f"not approved: {self.decision.text}").to_dict(), record)
                    continue
                approval = self.decision.who.audit_text()
            self._done(run_step(step, approval), record)
        return self

    def _done(self, result: dict[str, Any], record: Callable[[dict[str, Any]], None]) -> None:
        record(result)
        self.steps.append(result)

    @property
    def failed(self) -> list[str]:
        """The steps that failed."""
        return [s["step"] for s in self.steps if s["result"] == "failed"]

    @property
    def status(self) -> str:
        """The run row's final status: ``failed`` when any step failed, else ``done``."""
        return "failed" if self.failed else "done"

    def approval_text(self) -> str:
        """The decision with who made it, as the summary shows it."""
        return f"{self.decision.text} [{self.decision.who.audit_text()}]"

    def notice(self) -> tuple[str, str]:
        """Subject and body of the notification (text from the directory and mail escaped)."""
        body = "\n".join([
            f"Takeover response for {md(self.user['upn'])} in {md(self.domain)} ({md(self.decision.text)}):",
            *[f"- {md(s['step'])}: {md(s['result'])} {md(s['detail'])}" for s in self.steps]])
        return f"mailwarden: takeover response for {self.user['upn']}", body

    def to_dict(self, *, notified: bool) -> dict[str, Any]:
        """The flow's return value."""
        return {"tenant": self.domain, "user": self.user["id"], "upn": self.user["upn"], "run_id": self.run_id,
                "decision": self.decision.text, "approval": self.decision.who.audit_text(), "steps": self.steps,
                "notified": notified}
