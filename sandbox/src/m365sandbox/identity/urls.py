"""The identity URL table: routes under ``/{tenant}/...`` (a tenant id or any verified domain)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from m365sandbox.identity import responses as r

URLS: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/{tenant}/v2.0/.well-known/openid-configuration", r.discovery),
    ("GET", "/{tenant}/discovery/v2.0/keys", r.keys),
    ("GET", "/{tenant}/discovery/keys", r.keys),
    ("POST", "/{tenant}/oauth2/v2.0/token", r.token),
    ("GET", "/{tenant}/adminconsent", r.adminconsent),
    ("GET", "/{tenant}/v2.0/adminconsent", r.adminconsent),
]
"""(method, path, handler)."""


def build_identity_router() -> APIRouter:
    router = APIRouter()
    for method, path, handler in URLS:
        router.add_api_route(path, handler, methods=[method])
    return router
