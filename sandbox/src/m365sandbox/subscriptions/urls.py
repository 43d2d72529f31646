"""The subscriptions URL table (under ``/v1.0``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from m365sandbox.subscriptions import responses as r

URLS: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", "/subscriptions", r.create_subscription),
    ("GET", "/subscriptions", r.list_subscriptions),
    ("GET", "/subscriptions/{sid}", r.get_subscription),
    ("PATCH", "/subscriptions/{sid}", r.update_subscription),
    ("DELETE", "/subscriptions/{sid}", r.delete_subscription),
]
"""(method, path, handler)."""


def build_subscription_router() -> APIRouter:
    router = APIRouter()
    for method, path, handler in URLS:
        router.add_api_route(path, handler, methods=[method])
    return router
