"""The operator's per-tenant policy: what may run unattended, which actions, how far, how long.

A policy is the operator's; a run's parameters may only narrow it (ask for more approval, do
fewer steps, act on fewer copies, wait less), never widen it. Every ``narrow_*`` function here
takes what a run asked for and returns what the policy lets it have, or raises
:class:`PolicyViolation` (a ``ValueError``) naming the policy field that says no, before any API
call is made. Plain Python: the Prefect block that stores it is ``blocks/policy.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "ACTION_STRENGTH",
    "DEFAULT_PROTECTION_ACTIONS",
    "DEFAULT_TAKEOVER_UNATTENDED",
    "IDENTITY_STEPS",
    "TAKEOVER_STEPS",
    "THREAT_ACTIONS",
    "PolicyViolation",
    "TenantPolicy",
]

TAKEOVER_STEPS = ("remove_rules", "forwarding_off", "revoke_sessions", "reset_password", "disable_account",
                  "review_sent_items")
IDENTITY_STEPS = frozenset({"reset_password", "disable_account"})
"""Steps that lock a person out: guarded by the admin check and ``never_disable``."""
DEFAULT_TAKEOVER_UNATTENDED = ("remove_rules", "forwarding_off", "revoke_sessions", "review_sent_items")
THREAT_ACTIONS = ("quarantine", "move_to_junk", "soft_delete", "hard_delete")
DEFAULT_PROTECTION_ACTIONS = {"malicious": "quarantine", "suspicious": "move_to_junk"}
ACTION_STRENGTH = {"report": 0, "notify": 1, "move_to_junk": 2, "quarantine": 3, "soft_delete": 4,
                   "hard_delete": 5}
"""How far an action reaches: a run may swap an action for a weaker one, never a stronger one."""


class PolicyViolation(ValueError):
    """A run asked for more than the tenant's policy allows."""


@dataclass(frozen=True)
class TenantPolicy:
    """One tenant's policy (defaults: the safe side)."""

    tenant_id: str
    takeover_unattended: frozenset[str] = frozenset(DEFAULT_TAKEOVER_UNATTENDED)
    """Takeover steps that run without an approval; every other step waits for one."""
    threat_unattended_actions: frozenset[str] = frozenset()
    """threat-response actions that may run without an approval (default: none)."""
    threat_max_unattended_copies: int = 0
    """At most this many copies are acted on without an approval; more: the run asks."""
    protection_actions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PROTECTION_ACTIONS))
    """Continuous protection and historic scans: the strongest action per verdict category."""
    scan_max_action: str = "quarantine"
    """The strongest action a historic scan may take on what it finds (quarantine can be undone)."""
    never_disable: frozenset[str] = frozenset()
    """UPNs or object ids (lower-case) never disabled or reset, whatever their roles."""
    max_approval_timeout_seconds: int = 3600
    """The longest a run may wait for an approval."""

    def __post_init__(self) -> None:
        unknown = set(self.takeover_unattended) - set(TAKEOVER_STEPS)
        if unknown:
            raise ValueError(f"unknown takeover steps in the policy: {sorted(unknown)}")
        unknown = set(self.threat_unattended_actions) - set(THREAT_ACTIONS)
        if unknown:
            raise ValueError(f"unknown threat-response actions in the policy: {sorted(unknown)}")
        bad = {c: a for c, a in self.protection_actions.items() if a not in ACTION_STRENGTH}
        if bad:
            raise ValueError(f"unknown protection actions in the policy: {bad}")
        if self.scan_max_action not in ACTION_STRENGTH:
            raise ValueError(f"unknown scan_max_action {self.scan_max_action!r}")
        if self.threat_max_unattended_copies < 0 or self.max_approval_timeout_seconds < 1:
            raise ValueError("policy limits must be positive")

    # -- takeover ---------------------------------------------------------------------------
    def narrow_takeover(self, steps: Iterable[str], unattended: Iterable[str] | None,
                        read_only: Iterable[str] = ()) -> frozenset[str]:
        """The steps of ``steps`` that run without approval: those the run asks to run unattended
        (None: as many as the policy allows), each allowed by the policy; read-only steps always."""
        steps = list(steps)
        allowed = self.takeover_unattended | frozenset(read_only)
        if unattended is None:
            return frozenset(s for s in steps if s in allowed)
        asked = set(unattended)
        beyond = sorted(asked - allowed)
        if beyond:
            raise PolicyViolation(
                f"the tenant's policy requires approval for {', '.join(beyond)}: a run may ask for more "
                "approval, never less (change takeover_unattended in the tenant's policy block)")
        return frozenset(s for s in steps if s in asked or s in frozenset(read_only))

    def protects(self, *refs: str | None) -> bool:
        """Whether any of the user's ids or UPNs is on the never-disable list."""
        return any(r and r.lower() in self.never_disable for r in refs)

    # -- threat response --------------------------------------------------------------------
    def unattended_threat_action(self, action: str, copies: int) -> str | None:
        """None when ``action`` on ``copies`` copies may run without approval, else why not."""
        if action not in self.threat_unattended_actions:
            return f"the tenant's policy requires approval for {action}"
        if copies > self.threat_max_unattended_copies:
            return (f"{copies} copies is more than the {self.threat_max_unattended_copies} the tenant's policy "
                    "lets run without approval")
        return None

    # -- protection and scans ---------------------------------------------------------------
    def narrow_actions(self, asked: Mapping[str, str] | None) -> dict[str, str]:
        """Per category, the run's action if it is no stronger than the policy's, else refused.

        None: the policy's own actions. A category the policy leaves out is report-only.
        """
        if asked is None:
            return dict(self.protection_actions)
        stronger = {c: a for c, a in asked.items()
                    if ACTION_STRENGTH.get(a, 99) > ACTION_STRENGTH[self.protection_actions.get(c, "report")]}
        if stronger:
            detail = ", ".join(f"{c}: {a} (policy: {self.protection_actions.get(c, 'report')})"
                               for c, a in sorted(stronger.items()))
            raise PolicyViolation(f"the tenant's policy does not allow {detail}: a run may choose a weaker "
                                  "action, never a stronger one (change protection_actions in the policy block)")
        return dict(asked)

    def check_scan_actions(self, asked: Mapping[str, str]) -> None:
        """Refuse a scan policy with an action stronger than ``scan_max_action``."""
        ceiling = ACTION_STRENGTH[self.scan_max_action]
        stronger = sorted(f"{c}: {a}" for c, a in asked.items() if ACTION_STRENGTH.get(a, 99) > ceiling)
        if stronger:
            raise PolicyViolation(f"the tenant's policy lets a scan go no further than {self.scan_max_action}, "
                                  f"not {', '.join(stronger)} (change scan_max_action in the policy block)")

    def narrow_timeout(self, seconds: int | None) -> int:
        """The approval timeout: the run's, capped by the policy's."""
        if seconds is None:
            return self.max_approval_timeout_seconds
        if seconds < 1:
            raise ValueError("approval_timeout must be positive")
        return min(seconds, self.max_approval_timeout_seconds)
