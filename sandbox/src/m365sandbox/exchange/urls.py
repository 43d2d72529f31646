"""The Exchange admin API URL table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from m365sandbox.exchange import responses as r

URLS: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", "/adminapi/beta/{tenant}/InvokeCommand", r.invoke_command),
]
"""(method, path, handler)."""


def build_exchange_router() -> APIRouter:
    router = APIRouter()
    for method, path, handler in URLS:
        router.add_api_route(path, handler, methods=[method])
    return router
