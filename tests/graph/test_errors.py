"""The exception tree's shape and its promise never to show a token."""

from __future__ import annotations

from mailwarden.graph import (
    AuthenticationError,
    ConsentMissing,
    DeltaExpired,
    Forbidden,
    GraphError,
    GraphStatusError,
    GraphTransportError,
    HostNotAllowed,
    NotFound,
    ServiceUnavailable,
    Throttled,
    consent_missing_from,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXZhbHVl"


def test_the_tree_matches_the_architecture() -> None:
    for cls in (GraphTransportError, AuthenticationError, HostNotAllowed, GraphStatusError):
        assert issubclass(cls, GraphError)
    assert issubclass(ConsentMissing, AuthenticationError)
    for cls in (Throttled, NotFound, Forbidden, ServiceUnavailable, DeltaExpired):
        assert issubclass(cls, GraphStatusError)


def test_bearer_tokens_and_jwts_are_scrubbed_from_messages() -> None:
    exc = GraphStatusError(400, "BadRequest", f"echo: Authorization: Bearer abc.def-123 and {JWT}", "r")
    assert "abc.def-123" not in str(exc) and JWT not in str(exc) and JWT not in repr(exc)
    assert "<redacted>" in exc.message
    auth = AuthenticationError("invalid_client", f"token {JWT}")
    assert JWT not in str(auth)


def test_status_error_str_carries_status_code_and_request_id() -> None:
    exc = NotFound(404, "ErrorItemNotFound", "gone", "rid-1")
    assert str(exc) == "HTTP 404 ErrorItemNotFound: gone (request-id rid-1)"


def test_consent_missing_from_reads_403_and_consent_codes() -> None:
    got = consent_missing_from(Forbidden(403, "Authorization_RequestDenied", "Insufficient privileges", None))
    assert isinstance(got, ConsentMissing)
    assert consent_missing_from(GraphStatusError(401, "InvalidAuthenticationToken", "expired", None)) is None
    assert consent_missing_from(NotFound(404, "x", "y", None)) is None
