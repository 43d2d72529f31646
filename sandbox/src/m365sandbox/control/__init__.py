"""The sandbox's control surface ``/_sandbox/...``: tenants, consent, faults, injection, mailbox
settings, ground truth, labels, the clock, change notifications (loopback only, no token).

``models`` holds the operations over the :class:`~m365sandbox.core.Sandbox`
(:class:`ControlBackend`), ``responses`` the handlers, ``urls`` the URL table.
"""

from m365sandbox.control.models import ControlBackend, labelled_messages, tenant_summary
from m365sandbox.control.urls import build_control_router

__all__ = ["ControlBackend", "build_control_router", "labelled_messages", "tenant_summary"]
