"""Who decided: the record an approval leaves in the audit log.

The open-source Prefect server has no users: whoever resumes a paused run through its API (the
UI included) is not known to us, so a name typed into an approval form is recorded as *claimed*,
never as fact. The channel says how the decision arrived; ``actor`` is the authenticated
identity when the deployment knows one, else ``unverified``.
"""

from __future__ import annotations

from dataclasses import dataclass

POLICY = "policy"
PREFECT_API = "prefect-api"
UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Approval:
    """One decision about gated work."""

    decision: str
    """``unattended`` (the policy allows it), ``approved``, ``rejected`` or ``timed-out``."""
    channel: str = POLICY
    actor: str = UNVERIFIED
    claimed_by: str | None = None
    comment: str = ""

    @classmethod
    def unattended(cls) -> Approval:
        """Allowed by the tenant's policy without asking anyone."""
        return cls("unattended", POLICY, "tenant policy")

    @classmethod
    def from_resume(cls, approved: bool, *, claimed_by: str | None = None, comment: str = "",
                    actor: str | None = None) -> Approval:
        """A decision that came in as run input through the Prefect API."""
        claimed = (claimed_by or "").strip()[:80] or None
        return cls("approved" if approved else "rejected", PREFECT_API, actor or UNVERIFIED, claimed,
                   comment.strip()[:200])

    def audit_text(self) -> str:
        """What the audit log's ``approval`` column says, e.g.
        ``approved via prefect-api (actor unverified; claimed by 'soc-lead')``."""
        if self.channel == POLICY:
            return "unattended: allowed by the tenant policy"
        parts = [f"actor {self.actor}"]
        if self.claimed_by:
            parts.append(f"claimed by {self.claimed_by!r}")
        return f"{self.decision} via {self.channel} ({'; '.join(parts)})"

