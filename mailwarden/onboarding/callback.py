"""Parsing the admin-consent redirect: ``?admin_consent=True&tenant=...&state=...`` or
``?error=...&error_description=...&state=...``.

Everything here is untrusted browser input: values are length-capped, control characters are
dropped, and a callback that is neither a clear success nor a clear refusal is malformed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STATE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
MAX_TEXT = 500


class CallbackError(ValueError):
    """The consent redirect is malformed (missing or contradictory parameters)."""


@dataclass(frozen=True)
class ConsentOutcome:
    """What the admin decided: granted for a tenant GUID, or refused with Azure AD's reason."""

    granted: bool
    tenant_id: str | None = None
    error: str | None = None
    error_description: str | None = None

    def to_run_input(self, tier: str | None = None) -> dict[str, Any]:
        """The ``run_input`` the waiting onboarding run is resumed with."""
        return {
            "granted": self.granted,
            "tenant_id": self.tenant_id,
            "error": self.error,
            "error_description": self.error_description,
            "tier": tier,
        }

    @property
    def reason(self) -> str:
        """A one-line reason for a refusal."""
        if self.granted:
            return "consent granted"
        return f"{self.error}: {self.error_description or 'no description'}"


def clean_text(value: str | None, limit: int = MAX_TEXT) -> str | None:
    """Untrusted text made safe to log and store: no control characters, capped length."""
    if value is None:
        return None
    text = _CONTROL.sub(" ", value).strip()
    return text[:limit] if text else None


def parse_callback(query: Mapping[str, str]) -> tuple[str, ConsentOutcome]:
    """The ``state`` and the outcome of a consent redirect; ``CallbackError`` if malformed."""
    state = query.get("state") or ""
    if not _STATE.match(state):
        raise CallbackError("the consent callback has no valid state parameter")
    error = clean_text(query.get("error"), 100)
    admin_consent = query.get("admin_consent")
    if error:
        if admin_consent is not None:
            raise CallbackError("the consent callback carries both a grant and an error")
        return state, ConsentOutcome(
            granted=False, error=error, error_description=clean_text(query.get("error_description"))
        )
    if admin_consent is None:
        raise CallbackError("the consent callback carries neither admin_consent nor error")
    if admin_consent.strip().lower() != "true":
        raise CallbackError("admin_consent must be True")
    tenant = (query.get("tenant") or "").strip()
    if not _GUID.match(tenant):
        raise CallbackError("the consent callback's tenant is not a tenant GUID")
    return state, ConsentOutcome(granted=True, tenant_id=tenant.lower())
