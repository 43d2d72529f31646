"""Prefect blocks of mailwarden: register with ``prefect block register -m blocks``."""

from blocks.m365 import M365App, M365Tenant, tenant_block_name
from blocks.policy import M365TenantPolicy, load_policy, policy_block_name

__all__ = ["M365App", "M365Tenant", "M365TenantPolicy", "load_policy", "policy_block_name", "tenant_block_name"]
