"""The one exception tree for Microsoft Graph and the Exchange admin API.

::

    GraphError                                   base; str() never contains a token or secret
     ├── GraphTransportError                     connect/read errors, resets, truncated bodies
     ├── AuthenticationError(code, description)  msal said no: invalid_client, AADSTS7000215 ...
     │    └── ConsentMissing                     AADSTS65001/7000229/650051/500011/700016
     ├── HostNotAllowed                          a URL outside the tenant's cloud hosts
     └── GraphStatusError(status, code, message, request_id)
          ├── Throttled(retry_after)             429 past the retry budget
          ├── NotFound                           404
          ├── Forbidden                          403
          ├── ServiceUnavailable                 5xx past the retry budget
          └── DeltaExpired                       410 / syncStateNotFound / resyncRequired

Every HTTP or transport failure of the clients is one of these; callers catch by class.
"""

from __future__ import annotations

import re

__all__ = [
    "AuthenticationError",
    "ConsentMissing",
    "DeltaExpired",
    "Forbidden",
    "GraphError",
    "GraphStatusError",
    "GraphTransportError",
    "HostNotAllowed",
    "NotFound",
    "ServiceUnavailable",
    "Throttled",
    "consent_missing_from",
]

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def scrub(text: str) -> str:
    """Remove anything that looks like a bearer token or a JWT from ``text``."""
    return _JWT.sub("<redacted>", _BEARER.sub(r"\1<redacted>", text))


class GraphError(Exception):
    """Base of every error raised by the Graph and Exchange clients."""

    def __init__(self, message: str) -> None:
        self.message = scrub(str(message))
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class GraphTransportError(GraphError):
    """The request did not get a usable reply: connect/read errors, resets, truncated bodies.

    Raised at once, without re-sending, for a POST/PATCH that may have run: check before acting again.
    """


class HostNotAllowed(GraphError):
    """A URL points outside the hosts of the tenant's cloud; nothing was sent."""


class AuthenticationError(GraphError):
    """The identity provider refused to issue a token (msal's error dict)."""

    def __init__(self, code: str, description: str = "") -> None:
        self.code = code
        self.description = scrub(description)
        super().__init__(f"{code}: {self.description}" if self.description else code)


class ConsentMissing(AuthenticationError):
    """The app is not (yet) consented in the tenant, or the grant has not propagated."""


class GraphStatusError(GraphError):
    """The service answered with an error status."""

    def __init__(self, status: int, code: str | None, message: str, request_id: str | None = None) -> None:
        self.status = status
        self.code = code
        self.request_id = request_id
        text = f"HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if request_id:
            text += f" (request-id {request_id})"
        super().__init__(text)
        self.message = scrub(message)


class Throttled(GraphStatusError):
    """429 after the retry budget was spent; ``retry_after`` is the last hint in seconds."""

    def __init__(self, status: int, code: str | None, message: str, request_id: str | None = None,
                 *, retry_after: float | None = None) -> None:
        super().__init__(status, code, message, request_id)
        self.retry_after = retry_after


class NotFound(GraphStatusError):
    """404: the object (user, mailbox, message, rule...) does not exist."""


class Forbidden(GraphStatusError):
    """403: the app lacks a permission or role (or consent is still propagating)."""


class ServiceUnavailable(GraphStatusError):
    """5xx after the retry budget was spent."""


class DeltaExpired(GraphStatusError):
    """The delta token is no longer valid: start a full sync."""


_CONSENT_CODES = ("Authorization_RequestDenied", "AADSTS65001", "AADSTS7000229", "AADSTS650051",
                  "AADSTS500011", "AADSTS700016")


def consent_missing_from(exc: GraphStatusError) -> ConsentMissing | None:
    """Read a 401/403 seen while consent propagates as :class:`ConsentMissing`, else ``None``.

    Callers that know the tenant was just consented use this to tell "not yet" from "never".
    """
    if exc.status not in (401, 403):
        return None
    text = f"{exc.code or ''} {exc.message}"
    if exc.status == 403 or any(c in text for c in _CONSENT_CODES):
        return ConsentMissing(exc.code or f"HTTP {exc.status}", exc.message)
    return None


TRANSIENT: tuple[type[GraphError], ...] = (GraphTransportError, Throttled, ServiceUnavailable)
"""Failures worth trying again later: transport errors, throttling past the client's budget, 5xx."""
