"""The operator's per-tenant policy as a Prefect block (``M365 Tenant Policy``), edited in the UI.

One block per tenant, named ``policy-<tenant block name>`` and bound to the tenant's id. Flows
read it through :func:`load_policy`; a tenant without one gets the safe defaults of
:class:`mailwarden.policy.TenantPolicy`. A block whose tenant id is not the tenant's is refused
(fail closed): a policy never applies to another tenant.
"""

from __future__ import annotations

from typing import Literal, cast

from prefect.blocks.core import Block
from pydantic import Field, field_validator

from mailwarden.policy import DEFAULT_PROTECTION_ACTIONS, DEFAULT_TAKEOVER_UNATTENDED, TenantPolicy

TakeoverStep = Literal["remove_rules", "forwarding_off", "revoke_sessions", "reset_password", "disable_account",
                       "review_sent_items"]
ThreatAction = Literal["quarantine", "move_to_junk", "soft_delete", "hard_delete"]
ProtectionAction = Literal["report", "notify", "move_to_junk", "quarantine"]
ScanAction = Literal["report", "move_to_junk", "quarantine", "soft_delete", "hard_delete"]


class M365TenantPolicy(Block):
    """What mailwarden may do in one tenant without asking, and how far it may go."""

    _block_type_name = "M365 Tenant Policy"
    _block_type_slug = "m365-tenant-policy"
    _description = ("The operator's policy for one tenant: steps and actions that run without approval, "
                    "limits, accounts never disabled. A run's parameters can only narrow it.")

    tenant_id: str = Field(title="Tenant ID", description="The directory (tenant) id this policy belongs to.")
    takeover_unattended_steps: list[TakeoverStep] = Field(
        default_factory=lambda: list(DEFAULT_TAKEOVER_UNATTENDED),  # type: ignore[arg-type]
        title="Takeover steps run without approval",
        description="takeover-response steps that run at once; every other step waits for an approval. "
        "reset_password and disable_account are never run for an admin or a listed account.")
    threat_unattended_actions: list[ThreatAction] = Field(
        default_factory=list, title="Threat-response actions run without approval",
        description="threat-response actions that may run without an approval (empty: always ask).")
    threat_max_unattended_copies: int = Field(
        default=0, ge=0, title="Most copies acted on without approval",
        description="A threat-response run that finds more copies than this asks for approval.")
    protection_actions: dict[str, ProtectionAction] = Field(
        default_factory=lambda: dict(DEFAULT_PROTECTION_ACTIONS),  # type: ignore[arg-type]
        title="Continuous protection: action per verdict",
        description="category (malicious, suspicious, spam, graymail) -> quarantine | move_to_junk | notify | "
        "report. A run may choose a weaker action, never a stronger one.")
    scan_max_action: ScanAction = Field(
        default="quarantine", title="Strongest historic-scan action",
        description="The furthest a historic scan may go on what it finds (quarantine can be undone).")
    never_disable: list[str] = Field(
        default_factory=list, title="Accounts never disabled or reset",
        description="UPNs or object ids whose account is never disabled and whose password is never reset "
        "by a playbook (break-glass and service accounts).")
    max_approval_timeout_seconds: int = Field(
        default=3600, ge=1, title="Longest approval wait (s)",
        description="A run waits at most this long for an approval, then acts on nothing it was waiting for.")

    @field_validator("tenant_id")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    def to_policy(self) -> TenantPolicy:
        """The plain policy the core works with."""
        return TenantPolicy(
            tenant_id=self.tenant_id,
            takeover_unattended=frozenset(self.takeover_unattended_steps),
            threat_unattended_actions=frozenset(self.threat_unattended_actions),
            threat_max_unattended_copies=self.threat_max_unattended_copies,
            protection_actions=dict(self.protection_actions),
            scan_max_action=self.scan_max_action,
            never_disable=frozenset(x.strip().lower() for x in self.never_disable if x.strip()),
            max_approval_timeout_seconds=self.max_approval_timeout_seconds,
        )


def policy_block_name(tenant_block_name: str) -> str:
    """``policy-<tenant block name>``."""
    return f"policy-{tenant_block_name}"


def load_policy(tenant_block_name: str, tenant_id: str) -> TenantPolicy:
    """The tenant's policy; the safe defaults when it has no policy block; PermissionError when the
    block belongs to another tenant."""
    import prefect.exceptions

    try:
        block = cast(M365TenantPolicy, M365TenantPolicy.load(policy_block_name(tenant_block_name)))
    except ValueError as exc:
        if isinstance(exc.__cause__, prefect.exceptions.ObjectNotFound):
            return TenantPolicy(tenant_id=tenant_id.lower())
        raise PermissionError(f"the policy block {policy_block_name(tenant_block_name)!r} cannot be read: "
                              "refusing to act (fix the block in the Prefect UI)") from None
    if block.tenant_id != tenant_id.lower():
        raise PermissionError(f"the policy block {policy_block_name(tenant_block_name)!r} belongs to tenant "
                              f"{block.tenant_id}, not {tenant_id}: refusing to act (fix or delete the block)")
    return block.to_policy()
