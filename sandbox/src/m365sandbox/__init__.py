"""A local Microsoft 365 tenant: identity over TLS, Graph v1.0 and Exchange admin API subsets,
per-tenant state, throttling and faults. See ``docs/architecture.md`` ("The sandbox tenant")."""

from m365sandbox.core import ADVANCED_ROLES, BASIC_ROLES, AppRegistration, Clock, Sandbox
from m365sandbox.faults import Fault
from m365sandbox.server import SandboxServer
from m365sandbox.state import TenantState
from m365sandbox.throttle import PROFILES, Profile

__all__ = ["ADVANCED_ROLES", "BASIC_ROLES", "PROFILES", "AppRegistration", "Clock", "Fault", "Profile",
           "Sandbox", "SandboxServer", "TenantState"]
