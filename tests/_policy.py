"""Saving an operator's tenant policy in tests (the one place a test widens what runs unattended)."""

from __future__ import annotations

from typing import Any

from mailwarden.policy import TAKEOVER_STEPS

ALL_UNATTENDED: dict[str, Any] = {"takeover_unattended_steps": list(TAKEOVER_STEPS)}
"""Every takeover step runs without approval: what an operator who trusts the playbook sets."""
UNATTENDED_RESPONSE: dict[str, Any] = {"threat_unattended_actions": ["quarantine", "move_to_junk", "soft_delete"],
                                       "threat_max_unattended_copies": 1000}
"""threat-response may quarantine, junk and soft-delete (never hard-delete) without approval."""


def save_policy(block: Any, **fields: Any) -> Any:
    """Save ``fields`` as the tenant's ``M365 Tenant Policy`` block; returns the block."""
    from blocks.policy import M365TenantPolicy, policy_block_name

    policy = M365TenantPolicy(tenant_id=block.tenant_id, **fields)
    policy.save(policy_block_name(block.block_name), overwrite=True)
    return policy
