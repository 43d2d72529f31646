"""What a sandbox route handler may rely on for the request it serves.

The identity layer validates the bearer token before any Graph or Exchange route runs and
stores on ``request.state``: ``tenant`` (the live tenant state the token belongs to), ``roles``
(application permissions in the token, e.g. ``{"Mail.ReadWrite", "User.Read.All"}``) and
``app_id``. Handlers raise :class:`GraphHTTPError`; the app renders it as Graph's error body
``{"error": {"code", "message", "innerError": {"request-id", "date", "client-request-id"}}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request


class GraphHTTPError(Exception):
    """An error reply in Graph's shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def tenant_of(request: Request) -> Any:
    """The tenant state of the caller's token."""
    return request.state.tenant


def require_role(request: Request, *any_of: str) -> None:
    """Refuse with 403 unless the token carries one of ``any_of`` (Graph's behaviour)."""
    roles: frozenset[str] = request.state.roles
    if not roles.intersection(any_of):
        raise GraphHTTPError(
            403,
            "Authorization_RequestDenied" if any(r.startswith(("User.", "Group", "Directory", "Organization"))
                                                 for r in any_of) else "ErrorAccessDenied",
            "Insufficient privileges to complete the operation."
            if any(r.startswith(("User.", "Group", "Directory", "Organization")) for r in any_of)
            else "Access is denied. Check credentials and try again.",
        )
