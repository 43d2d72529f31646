"""A local Microsoft 365: Entra ID identity over TLS, Graph v1.0, the Exchange admin API and EWS
over generated tenants, with throttling, faults and a control surface (see the distribution's
README)."""

from m365sandbox.core import ADVANCED_ROLES, BASIC_ROLES, AppRegistration, Clock, Sandbox
from m365sandbox.faults import Fault
from m365sandbox.server import SandboxServer
from m365sandbox.state import TenantState
from m365sandbox.throttle import PROFILES, Profile

__all__ = ["ADVANCED_ROLES", "BASIC_ROLES", "PROFILES", "AppRegistration", "Clock", "Fault", "Profile",
           "Sandbox", "SandboxServer", "TenantState"]
