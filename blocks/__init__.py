"""Prefect blocks of mailwarden: register with ``prefect block register -m blocks``."""

from blocks.m365 import M365App, M365Tenant, tenant_block_name

__all__ = ["M365App", "M365Tenant", "tenant_block_name"]
