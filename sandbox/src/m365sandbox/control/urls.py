"""The control surface's URL table, under ``/_sandbox``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from m365sandbox.control import responses as r

PREFIX = "/_sandbox"
URLS: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/tenants", r.list_tenants),
    ("POST", "/tenants", r.add_tenant),
    ("POST", "/tenants/{tid}/consent", r.grant_consent),
    ("DELETE", "/tenants/{tid}/consent", r.revoke_consent),
    ("POST", "/tenants/{tid}/consent-settings", r.consent_settings),
    ("GET", "/faults", r.list_faults),
    ("POST", "/faults", r.inject_fault),
    ("DELETE", "/faults", r.clear_faults),
    ("POST", "/tenants/{tid}/mailboxes/{user}/messages", r.inject_message),
    ("POST", "/tenants/{tid}/mailboxes/{user}/rules", r.inject_rule),
    ("PATCH", "/tenants/{tid}/mailboxes/{user}/settings", r.mailbox_settings),
    ("GET", "/tenants/{tid}/truth", r.truth),
    ("GET", "/tenants/{tid}/labels", r.labels),
    ("POST", "/tenants/{tid}/expire-delta", r.expire_delta),
    ("GET", "/tenants/{tid}/subscriptions", r.subscriptions),
    ("POST", "/tenants/{tid}/notifications", r.notifications),
    ("POST", "/tenants/{tid}/subscriptions/{sid}/lifecycle", r.lifecycle),
    ("POST", "/clock", r.clock),
    ("POST", "/reset", r.reset),
]
"""(method, path under :data:`PREFIX`, handler)."""


def build_control_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    for method, path, handler in URLS:
        router.add_api_route(path, handler, methods=[method])
    return router
